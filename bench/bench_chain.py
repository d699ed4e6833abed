"""Chain runtime throughput vs a per-record quixstreams app vs a raw passthrough.

The same JSON telemetry transform (unit conversion, filter, derived column)
on the same broker in one run:

* ``kit``: the chain runtime's Polars step (micro-batches, identity headers,
  commit after delivery), as live runs and exported services use it;
* ``quix``: a hand-written per-record quixstreams app doing the same;
* ``raw``: a confluent-kafka consume→produce passthrough with no decoding;
* ``floor``: the least any JSON transform must do on top of ``raw``: the same
  loop, with each batch's values decoded by Polars and encoded back to JSON
  (no step, no identity header, no event time, no dead letters). It shows
  what decoding and encoding alone cost against ``raw`` on this machine.

Each is timed from its first record to its last output (the kit's, the
raw loop's and the floor's: to the commit after it). The per-record app uses quixstreams'
normal producer batching (the kit's local profile sends one record per batch
only for stateful apps' changelog safety; this app is stateless, so that would
be unfair to it).

The four run ``--rounds`` times, interleaved (kit, quix, raw, floor, then
floor, raw, quix, kit...), each on the same input topic with a fresh consumer
group, so that a machine whose speed drifts (shared cores) affects them alike.

Each run is a fresh Python process. In one process the contenders disturbed
each other: once quixstreams was imported (by the quix contender), the
interpreter tracked ~5x more objects, and the raw loop, which allocates a
message object per record under the default garbage collector settings, lost
~30% of its speed to full collections (measured: 530k → 360k msg/s; 570k+
again after ``gc.freeze()``). That inflated the kit's ratio to it.

The result line gives each contender's min/median/max msg/s, the ratios of
the same round (min/median/max), the CPU the contender's process spent per
record (all its threads; a load-independent figure; the broker's CPU is not
in it), and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import kit
from kit.runtime.chain import Step
from kit.runtime.polars_step import PolarsStepRunner
from kit.runtime.status import StepStatus


def transform(df: Any) -> Any:
    import polars as pl

    return df.filter(pl.col("gear") > 0).with_columns(
        speed_ms=pl.col("speed") / 3.6, power=pl.col("rpm") * pl.col("throttle")
    )


def produce(conn: kit.Connection, topic: str, n: int) -> int:
    from kit.io.demo import TelemetryGenerator

    gen = TelemetryGenerator(cars=20, seed=5)
    producer = conn.producer(linger_ms=20, queue_buffering_max_messages=2_000_000)
    kept = 0
    i = 0
    while i < n:
        for record in gen.step(0.01):
            if i >= n:
                break
            record["gear"] = 0 if i % 10 == 0 else record["gear"]  # 10% filtered
            kept += record["gear"] > 0
            value = json.dumps(record).encode()
            while True:
                try:
                    producer.produce(topic, key=record["car"].encode(), value=value)
                    break
                except BufferError:
                    producer.poll(0.01)
            i += 1
    producer.flush(60)
    return kept


def bench_kit(conn: kit.Connection, source: str, sink: str, expected: int) -> float:
    stop = threading.Event()
    status = StepStatus("bench", "polars", source, sink, conn.guarantee)
    step = Step("bench", "polars", source, sink, transform)
    runner = PolarsStepRunner(
        step,
        conn.settings,
        group=f"bench-{uuid.uuid4().hex[:6]}",
        stop=stop,
        status=status,
    )
    thread = threading.Thread(target=runner.run)
    thread.start()
    while status.records_in == 0:
        time.sleep(0.001)
    started = time.perf_counter()
    while status.records_out < expected:
        time.sleep(0.005)
    # Stopping finishes the batches in flight: the last commit, then the
    # consumer's close (leaving the group), are inside the timing.
    stop.set()
    thread.join()
    elapsed = time.perf_counter() - started
    return expected / elapsed


def bench_quix(conn: kit.Connection, source: str, sink: str, expected: int) -> float:
    app = conn.application(
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        loglevel="WARNING",
        producer_extra_config={"batch.num.messages": 10_000, "linger.ms": 5},
    )
    first: list[float] = []

    def mark(value: dict[str, Any]) -> dict[str, Any]:
        if not first:
            first.append(time.perf_counter())
        return value

    sdf = app.dataframe(app.topic(source, value_deserializer="json"))
    sdf = sdf.update(mark).filter(lambda v: v["gear"] > 0)
    sdf = sdf.apply(
        lambda v: {**v, "speed_ms": v["speed"] / 3.6, "power": v["rpm"] * v["throttle"]}
    )
    sdf.to_topic(app.topic(sink, value_serializer="json"))
    app.run(count=expected, timeout=60, collect=False)
    return expected / (time.perf_counter() - first[0])


def bench_raw(
    conn: kit.Connection, source: str, sink: str, n: int, *, decode: bool = False
) -> float:
    """The raw passthrough; with ``decode``, the floor (Polars JSON decode and
    encode of each batch in between)."""
    import polars as pl
    from confluent_kafka import Consumer, Producer, TopicPartition

    consumer = Consumer(conn.settings.consumer_config(**{
        "group.id": f"bench-raw-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }))  # fmt: skip
    producer = Producer(conn.settings.producer_config(**{
        "linger.ms": 5, "queue.buffering.max.messages": 2_000_000,
        "delivery.report.only.error": True,
    }))  # fmt: skip
    consumer.subscribe([source])
    seen, started = 0, None
    while seen < n:
        messages = consumer.consume(num_messages=20_000, timeout=0.5)
        if not messages:
            continue
        if started is None:
            started = time.perf_counter()
        last: dict[int, int] = {}
        if decode:
            messages = [m for m in messages if not m.error()]
            frame = pl.read_ndjson(
                b"\n".join(m.value() for m in messages), infer_schema_length=1000
            )
            encoded = frame.select(
                pl.struct(frame.columns).struct.json_encode().cast(pl.Binary)
            ).to_series()
            for value, m in zip(encoded.to_list(), messages, strict=True):
                while True:
                    try:
                        producer.produce(sink, value, m.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
                last[m.partition()] = m.offset()
            seen += len(messages)
        else:
            for m in messages:
                if m.error():
                    continue
                while True:
                    try:
                        producer.produce(sink, m.value(), m.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
                last[m.partition()] = m.offset()
                seen += 1
        producer.flush(60)
        consumer.commit(
            offsets=[TopicPartition(source, p, o + 1) for p, o in last.items()],
            asynchronous=False,
        )
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return n / elapsed


CONTENDERS = ("kit", "quix", "raw", "floor")


def run_one(
    name: str, conn: kit.Connection, source: str, sink: str, n: int, expected: int
) -> float:
    """Input msg/s of one contender."""
    if name == "kit":
        return bench_kit(conn, source, sink, expected) * n / expected
    if name == "quix":
        return bench_quix(conn, source, sink, expected) * n / expected
    return bench_raw(conn, source, sink, n, decode=name == "floor")


def spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 3),
        "median": round(statistics.median(values), 3),
        "max": round(max(values), 3),
    }


def run_alone(args: argparse.Namespace) -> None:
    """One contender in this (fresh) process: print its msg/s and CPU."""
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    before = time.process_time()
    rate = run_one(
        args.contender, conn, args.source, args.sink, args.records, args.expected
    )
    cpu = (time.process_time() - before) * 1e6 / args.records
    print(json.dumps({"rate": rate, "cpu": cpu}))


def run_in_child(
    name: str, conn: kit.Connection, source: str, sink: str, n: int, expected: int
) -> tuple[float, float]:
    """Run one contender in a fresh interpreter (see the module docstring)."""
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--contender",
            name,
            "--source",
            source,
            "--sink",
            sink,
            "--records",
            str(n),
            "--expected",
            str(expected),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KIT_BROKER": str(conn.address)},
    )
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return figures["rate"], figures["cpu"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--short", action="store_true", help="30,000 records, 1 round")
    # One contender alone (the parent runs each of them so).
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        run_alone(args)
        return
    n = 30_000 if args.short else args.records
    rounds = 1 if args.short else args.rounds
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    suffix = uuid.uuid4().hex[:8]
    source = f"bench-chain-in-{suffix}"
    conn.create_topic(source, partitions=1)
    rates: dict[str, list[float]] = {k: [] for k in CONTENDERS}
    cpu: dict[str, list[float]] = {k: [] for k in CONTENDERS}
    load_before = os.getloadavg()[0]
    try:
        expected = produce(conn, source, n)
        for r in range(rounds):
            order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
            for name in order:
                sink = f"bench-chain-{name}-{r}-{suffix}"
                conn.create_topic(sink, partitions=1)
                try:
                    rate, used = run_in_child(name, conn, source, sink, n, expected)
                    rates[name].append(rate)
                    cpu[name].append(used)
                finally:
                    conn.delete_topics([sink])
    finally:
        conn.delete_topics([source])
    kit_vs_quix = [k / q for k, q in zip(rates["kit"], rates["quix"], strict=True)]
    kit_vs_raw = [k / r for k, r in zip(rates["kit"], rates["raw"], strict=True)]
    floor_vs_raw = [f / r for f, r in zip(rates["floor"], rates["raw"], strict=True)]
    kit_vs_floor = [k / f for k, f in zip(rates["kit"], rates["floor"], strict=True)]
    results: dict[str, Any] = {
        "records": n,
        "outputs": expected,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        # Medians, for a quick look; the spreads follow.
        "kit_msg_per_s": round(statistics.median(rates["kit"])),
        "quix_per_record_msg_per_s": round(statistics.median(rates["quix"])),
        "raw_passthrough_msg_per_s": round(statistics.median(rates["raw"])),
        "floor_decode_encode_msg_per_s": round(statistics.median(rates["floor"])),
        "kit_vs_quix": spread(kit_vs_quix),
        "kit_vs_raw": spread(kit_vs_raw),
        # What decoding and encoding alone leave of the raw loop's speed, and
        # how close the kit comes to that.
        "floor_vs_raw": spread(floor_vs_raw),
        "kit_vs_floor": spread(kit_vs_floor),
        "throughput": {k: spread(v) for k, v in rates.items()},
        "cpu_us_per_record": {k: spread(v) for k, v in cpu.items()},
        "per_round": {k: [round(x) for x in v] for k, v in rates.items()},
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
