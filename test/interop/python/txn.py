"""confluent-kafka-python (librdkafka) transactional producer driver for
Kavka's interop suite.

    python3 txn.py BROKERS TOPIC N

Runs three transactions of N records each on TOPIC with one transactional
producer: the first commits ("commit1-i"), the second aborts ("abort-i"),
the third commits ("commit2-i"). A read_committed consumer must then see
exactly the 2N committed records, a read_uncommitted one all 3N.
"""
import sys

from confluent_kafka import Producer


def main():
    brokers, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    p = Producer({
        "bootstrap.servers": brokers, "client.id": "kavka-interop-python-txn",
        "transactional.id": "kavka-interop-python-txn", "transaction.timeout.ms": 60000,
        "linger.ms": 5,
    })
    p.init_transactions(30)
    for name, commit in (("commit1", True), ("abort", False), ("commit2", True)):
        p.begin_transaction()
        for i in range(n):
            p.produce(topic, key=str(i).encode(), value=("%s-%d" % (name, i)).encode())
            if i % 1000 == 999:
                p.poll(0)
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)  # the aborted records really reach the log first
            p.abort_transaction(30)
        print("%s: %d records %s" % (name, n, "committed" if commit else "aborted"), file=sys.stderr)


if __name__ == "__main__":
    main()
