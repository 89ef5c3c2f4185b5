"""confluent-kafka-python (librdkafka) consumer-group driver for Kavka's
interop suite.

    python3 group.py BROKERS TOPIC GROUP N

Consumes TOPIC from the beginning as a member of GROUP (classic protocol,
cooperative-sticky), prints "partition<TAB>offset<TAB>key<TAB>value" per
record until N records arrived, commits synchronously and leaves the group.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException


def main():
    brokers, topic, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    deadline = time.monotonic() + 60
    c = Consumer({
        "bootstrap.servers": brokers, "client.id": "kavka-interop-python-group", "group.id": group,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 10000,
    })
    c.subscribe([topic])
    got = 0
    out = []
    try:
        while got < n:
            if time.monotonic() > deadline:
                raise SystemExit("timed out with %d of %d records" % (got, n))
            msgs = c.consume(num_messages=500, timeout=1.0)
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
                out.append("%d\t%d\t%s\t%s" % (m.partition(), m.offset(), m.key().decode(), m.value().decode()))
                got += 1
            if msgs:
                c.commit(asynchronous=False)
    finally:
        c.close()
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
