#!/usr/bin/env python3
"""The blog's consumer design (its consumer section) as the baseline for cdc-consumer's throughput:
confluent_kafka's Consumer polling one message at a time with auto-commit, the blog's decode
(bench/blog_decode.py), and one synchronous Cassandra insert per message.

Two departures, both in the blog's favour or neutral: `auto.offset.reset` is `earliest` (the
blog's `latest` would read nothing of a topic filled beforehand), and the insert is a prepared
statement (the blog's code is not shown; a prepared statement is the fastest sync insert).

Consumes --topic for --seconds after the first message and prints one JSON line:
{"messages": N, "seconds": S}. Run by the throughput benchmark (bench/consumer.sh), which
installs confluent-kafka and cassandra-driver from PyPI into a virtual environment.
"""

import argparse
import json
import os
import sys
import time

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster
from confluent_kafka import Consumer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blog_decode import SCALES, process_ticker_event  # noqa: E402

COLUMNS = (
    ["symbol", "day", "close_time", "id"]
    + list(SCALES)
    + ["open_time", "first_trade_id", "last_trade_id", "trade_count", "fetched_at"]
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--cassandra", default="127.0.0.1:9042", help="host:port")
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    host, port = args.cassandra.rsplit(":", 1)
    # The consumer's role, from the environment `cargo xtask stack env` exports: a password on
    # the command line would show in the process list.
    auth = PlainTextAuthProvider(
        username=os.environ["CASSANDRA_USERNAME"], password=os.environ["CASSANDRA_PASSWORD"]
    )
    session = Cluster([host], port=int(port), auth_provider=auth).connect(args.keyspace)
    insert = session.prepare(
        f"INSERT INTO ticker_24h ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    )
    consumer = Consumer(
        {
            "bootstrap.servers": args.brokers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([args.topic])

    messages = 0
    started = None
    while started is None or time.perf_counter() - started < args.seconds:
        msg = consumer.poll(timeout=1.0)
        if msg is None:
            continue
        if started is None:
            started = time.perf_counter()
        row = process_ticker_event(msg.value())
        row["day"] = row["close_time"].date()
        session.execute(insert, [row[column] for column in COLUMNS])
        messages += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    print(json.dumps({"messages": messages, "seconds": round(elapsed, 3)}))


if __name__ == "__main__":
    main()
