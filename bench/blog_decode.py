#!/usr/bin/env python3
"""The blog's decode path (its sections on decoding), rebuilt from its description as the baseline
for the Rust decoder: json.loads of the message value, then per decimal column base64 ->
int.from_bytes(big, signed) -> Decimal / 10**scale with the scale HARD-CODED per column.

Reads bench/ticker_events.jsonl (the Rust benchmark's exact bytes), decodes every event
pass after pass for --seconds, and prints the median and mean events/s over the passes (the
median, like criterion's, shrugs off passes slowed by other work on the box). Standard library
only.

    python3 bench/blog_decode.py bench/ticker_events.jsonl --seconds 5
"""

import argparse
import base64
import json
import statistics
import time
from datetime import datetime
from decimal import Decimal

# Hard-coded, as the blog does. It uses 4 for price_change_percent, which our NUMERIC(38, 8)
# table would make wrong by 10^4; the cost is identical, so we use the right 8 throughout.
SCALES = {
    "price_change": 8,
    "price_change_percent": 8,
    "weighted_avg_price": 8,
    "prev_close_price": 8,
    "last_price": 8,
    "last_qty": 8,
    "bid_price": 8,
    "bid_qty": 8,
    "ask_price": 8,
    "ask_qty": 8,
    "open_price": 8,
    "high_price": 8,
    "low_price": 8,
    "volume": 8,
    "quote_volume": 8,
}


def decode_decimal(encoded_value, scale):
    """The blog's decoder, verbatim but for formatting."""
    if encoded_value is None:
        return Decimal("0")
    byte_data = base64.b64decode(encoded_value)
    value = int.from_bytes(byte_data, byteorder="big", signed=True)
    return Decimal(value) / Decimal(10**scale)


def process_ticker_event(value):
    """One Kafka message value (bytes) to the row the blog writes, plus the columns we carry."""
    event = json.loads(value.decode("utf-8"))
    payload = event["payload"]
    data = payload["after"]
    row = {name: decode_decimal(data[name], scale) for name, scale in SCALES.items()}
    row["op"] = payload["op"]
    row["symbol"] = data["symbol"]
    row["id"] = data["id"]
    row["first_trade_id"] = data["first_trade_id"]
    row["last_trade_id"] = data["last_trade_id"]
    row["trade_count"] = data["trade_count"]
    # The Rust decoder parses every timestamp into an instant; so must the baseline.
    for name in ("open_time", "close_time", "fetched_at"):
        row[name] = datetime.fromisoformat(data[name])
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", help="JSON lines, one Kafka message value per line")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to keep decoding")
    args = parser.parse_args()

    with open(args.events, "rb") as lines:
        messages = [line.rstrip(b"\n") for line in lines if line.strip()]
    # One untimed pass: imports and caches warm, and a broken file fails before timing.
    checksum = sum(process_ticker_event(message)["last_price"] for message in messages)

    passes = []
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        pass_start = time.perf_counter()
        for message in messages:
            process_ticker_event(message)
        passes.append(time.perf_counter() - pass_start)

    total = len(passes) * len(messages)
    print(f"sum of last_price over one pass: {checksum}")
    print(f"decoded {total} events in {len(passes)} passes, {sum(passes):.2f} s")
    print(f"mean events/s: {total / sum(passes):.0f}")
    print(f"median events/s: {len(messages) / statistics.median(passes):.0f}")


if __name__ == "__main__":
    main()
