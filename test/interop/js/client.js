// kafkajs driver for Kavka's interop suite (see ../run.sh and
// ../goclients/main.go for the record scheme and the output format).
//
//   node client.js BROKERS TOPIC CODEC N PARTITIONS
//
// Exit 0: records printed to stdout; 3: the codec is not available here
// (the reason on stderr); anything else: failure.
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

const [brokers, topic, codec, nStr, partStr] = process.argv.slice(2);
const n = Number(nStr);
const numPartitions = Number(partStr);
const padding = 'the quick brown fox jumps over the lazy dog; kavka interop payload';
const key = (i) => 'key-' + (i % 97);
const value = (i) => String(i).padStart(6, '0') + '|' + padding;

function codecType(name) {
  switch (name) {
    case 'none': return CompressionTypes.None;
    case 'gzip': return CompressionTypes.GZIP;
    case 'snappy':
      CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
      return CompressionTypes.Snappy;
    case 'lz4': {
      const LZ4 = require('kafkajs-lz4');
      CompressionCodecs[CompressionTypes.LZ4] = new LZ4().codec;
      return CompressionTypes.LZ4;
    }
    case 'zstd':
      CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec(require('zstd-codec'));
      return CompressionTypes.ZSTD;
  }
  throw new Error('unknown codec ' + name);
}

// zstdCodec adapts zstd-codec (zstd compiled to WebAssembly, so nothing
// native to build, unlike @kafkajs/zstd) to kafkajs's codec interface.
function zstdCodec({ ZstdCodec }) {
  const ready = new Promise((resolve) => ZstdCodec.run(resolve));
  return () => ({
    async compress(encoder) {
      const z = await ready;
      return Buffer.from(new z.Simple().compress(encoder.buffer, 3));
    },
    async decompress(buffer) {
      const z = await ready;
      // Streaming handles frames without a content size, as Java writes them.
      return Buffer.from(new z.Streaming().decompress(buffer));
    },
  });
}

async function main() {
  let compression;
  try {
    compression = codecType(codec);
  } catch (e) {
    process.stderr.write(`codec ${codec} unavailable: ${e.message.split('\n')[0]}\n`);
    process.exit(3);
  }
  const kafka = new Kafka({
    clientId: 'kavka-interop-kafkajs',
    brokers: [brokers],
    logLevel: logLevel.ERROR,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 5 },
  });

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true, timeout: 30000 });
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  if (md.topics[0].partitions.length !== numPartitions) {
    throw new Error(`metadata: ${md.topics[0].partitions.length} partitions, want ${numPartitions}`);
  }
  await admin.disconnect();

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const chunk = 1000;
  for (let start = 0; start < n; start += chunk) {
    const messages = [];
    for (let i = start; i < Math.min(start + chunk, n); i++) {
      messages.push({ key: key(i), value: value(i) });
    }
    await producer.send({ topic, compression, acks: -1, messages });
  }
  await producer.disconnect();

  // kafkajs consumes only as a member of a consumer group.
  const consumer = kafka.consumer({ groupId: 'interop-' + topic, maxWaitTimeInMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const lines = [];
  await new Promise((resolve, reject) => {
    consumer.run({
      autoCommit: true,
      eachMessage: async ({ partition, message }) => {
        lines.push(`${partition}\t${message.offset}\t${message.key}\t${message.value}\n`);
        if (lines.length >= n) resolve();
      },
    }).catch(reject);
    consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
  });
  await consumer.disconnect();
  process.stdout.write(lines.join(''));
}

const deadline = setTimeout(() => {
  process.stderr.write('kafkajs: timed out\n');
  process.exit(1);
}, Number(process.env.INTEROP_CLIENT_TIMEOUT_MS || 120000));

main().then(() => { clearTimeout(deadline); process.exit(0); })
  .catch((e) => { process.stderr.write(`kafkajs: ${e.stack || e}\n`); process.exit(1); });
