"""Live peek throughput: a tap vs a raw confluent-kafka consume loop.

Produces N ~200-byte JSON telemetry records, then reads them all (1) with a
raw consumer that does no decoding, (2) with a kit Tap (batch decoding with
Polars into a bounded ring buffer), sampling the process RSS meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid

import psutil

import kit
from kit.live.tap import Tap


def produce(conn: kit.Connection, topic: str, n: int) -> float:
    producer = conn.producer(linger_ms=20, queue_buffering_max_messages=1_000_000)
    record = {
        "car": "44", "venue": "baku", "lap": 12, "distance": 4123.4, "speed": 301.2,
        "rpm": 11873, "gear": 7, "throttle": 1.0, "brake": 0.0, "drs": True,
        "tyre": {"compound": "SOFT", "age": 14}, "ts": 0,
    }  # fmt: skip
    started = time.perf_counter()
    for i in range(n):
        record["ts"] = i
        value = json.dumps(record).encode()
        while True:
            try:
                producer.produce(
                    topic, key=b"%d" % (i % 20), value=value, partition=i % 4
                )
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    return n / (time.perf_counter() - started)


def raw_consume(conn: kit.Connection, topic: str, n: int) -> float:
    from confluent_kafka import TopicPartition

    consumer = conn.consumer(enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(4)])
    seen = 0
    started = time.perf_counter()
    while seen < n:
        for message in consumer.consume(num_messages=10_000, timeout=0.1):
            if message.error() is None:
                message.value()
                seen += 1
    rate = n / (time.perf_counter() - started)
    consumer.close()
    return rate


def tap_consume(conn: kit.Connection, topic: str, n: int) -> dict[str, float]:
    process = psutil.Process()
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            samples.append(process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    tap = Tap(topic, start="earliest", rows=1000, count=n, connection=conn)
    rss_before = process.memory_info().rss
    sampler.start()
    started = time.perf_counter()
    tap.start()
    tap.wait()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    half = samples[len(samples) // 2 :] or samples
    return {
        "tap_msg_per_s": n / elapsed,
        "tap_bad": tap.bad,
        "rss_before_mib": rss_before / 2**20,
        "rss_max_mib": max(samples or [rss_before]) / 2**20,
        "rss_second_half_spread_mib": (max(half) - min(half)) / 2**20 if half else 0.0,
        "buffered_rows": tap.snapshot().height,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--short", action="store_true", help="100,000 records")
    args = parser.parse_args()
    n = 100_000 if args.short else args.records
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    topic = f"bench-peek-{uuid.uuid4().hex[:8]}"
    conn.create_topic(topic, partitions=4)
    try:
        results: dict[str, float | int | str] = {
            "records": n,
            "broker": str(conn.address),
        }
        results["produce_msg_per_s"] = produce(conn, topic, n)
        results["raw_consume_msg_per_s"] = raw_consume(conn, topic, n)
        results.update(tap_consume(conn, topic, n))
        results["tap_share_of_raw"] = (
            results["tap_msg_per_s"] / results["raw_consume_msg_per_s"]
        )  # type: ignore[operator]
        print(
            json.dumps(
                {
                    k: round(v, 3) if isinstance(v, float) else v
                    for k, v in results.items()
                }
            )
        )
    finally:
        conn.delete_topics([topic])


if __name__ == "__main__":
    main()
