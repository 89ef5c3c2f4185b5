"""confluent-kafka-python (librdkafka) driver for Kavka's interop suite.

    python3 client.py BROKERS TOPIC CODEC N PARTITIONS

See ../run.sh and ../goclients/main.go for the record scheme and the output
format. Exit 0: records printed to stdout; 3: the codec is not available
here; anything else: failure.
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PADDING = "the quick brown fox jumps over the lazy dog; kavka interop payload"


def key(i):
    return "key-%d" % (i % 97)


def value(i):
    return "%06d|%s" % (i, PADDING)


def main():
    brokers, topic, codec, n, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    deadline = time.monotonic() + 120
    base = {"bootstrap.servers": brokers, "client.id": "kavka-interop-python"}

    admin = AdminClient(base)
    admin.list_topics(timeout=10)  # metadata
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=10, request_timeout=30)
    futures[topic].result(timeout=30)
    while True:
        md = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and \
                all(p.leader >= 0 for p in md.partitions.values()):
            break
        if time.monotonic() > deadline:
            raise RuntimeError("metadata of %s never showed %d partitions" % (topic, partitions))
        time.sleep(0.1)

    try:
        producer = Producer(dict(base, **{"compression.type": codec, "linger.ms": 5, "acks": "all",
                                          "enable.idempotence": False}))
    except KafkaException as e:
        sys.stderr.write("codec %s unavailable: %s\n" % (codec, e))
        sys.exit(3)
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    for i in range(n):
        while True:
            try:
                producer.produce(topic, key=key(i), value=value(i), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
                if time.monotonic() > deadline:
                    raise RuntimeError("producer queue stuck")
        producer.poll(0)
    left = producer.flush(60)
    if left or errors:
        raise RuntimeError("produce: %d undelivered, %d failed, first %s" % (left, len(errors), errors[:1]))

    consumer = Consumer(dict(base, **{"group.id": "interop-" + topic, "enable.auto.commit": False,
                                      "enable.partition.eof": True, "fetch.wait.max.ms": 500}))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out, eof = [], set()
    while len(out) < n or len(eof) < partitions:
        if time.monotonic() > deadline:
            raise RuntimeError("consumed %d of %d records before the deadline" % (len(out), n))
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
                continue
            raise KafkaException(msg.error())
        eof.discard(msg.partition())
        out.append("%d\t%d\t%s\t%s\n" % (msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))
    consumer.close()
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
