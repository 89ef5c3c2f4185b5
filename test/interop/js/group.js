// kafkajs consumer-group driver for Kavka's interop suite.
//
//   node group.js BROKERS TOPIC GROUP N
//
// Consumes TOPIC from the beginning as a member of GROUP, prints
// "partition<TAB>offset<TAB>key<TAB>value" per record until N records
// arrived, commits the offsets explicitly and leaves the group.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const [brokers, topic, group, nStr] = process.argv.slice(2);
const n = parseInt(nStr, 10);

async function main() {
  const kafka = new Kafka({ clientId: 'kavka-interop-kafkajs-group', brokers: [brokers], logLevel: logLevel.ERROR });
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000 });
  const lines = [];
  const next = new Map(); // partition → next offset to commit
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  const timer = setTimeout(() => resolveDone(new Error(`timed out with ${lines.length} of ${n} records`)), 60000);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (lines.length >= n) return;
      lines.push(`${partition}\t${message.offset}\t${message.key.toString()}\t${message.value.toString()}`);
      next.set(partition, (BigInt(message.offset) + 1n).toString());
      if (lines.length === n) {
        await consumer.commitOffsets([...next].map(([p, o]) => ({ topic, partition: p, offset: o })));
        resolveDone(null);
      }
    },
  });
  const err = await done;
  clearTimeout(timer);
  await consumer.disconnect();
  if (err) throw err;
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
