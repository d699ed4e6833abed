"""Resilience of an exported service: SIGKILL + restart, again and again.

Exports a one-step Polars chain (per-record transform), feeds it N records
over 4 partitions, SIGKILLs the service K times at random moments (restarting
it each time), lets it finish, and checks against the input:

* lost: input records with no output (must be 0);
* duplicated: outputs beyond one per input after de-duplication by record
  identity (must be 0; raw duplicates are reported too);
* per-key results (count and sum per key) equal those of the input, which is
  what a run without kills produces.

On the embedded broker (no transactions) the guarantee is at-least-once +
identity. With ``KIT_TEST_BROKER`` pointing at a broker that honours
transactions, the service runs exactly-once and the check is done on the raw
output with no de-duplication. Exit code 1 if any check fails.

    python bench/bench_resilience.py            # 1,000,000 records, 20 kills
    python bench/bench_resilience.py --short    # 40,000 records, 4 kills
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl

import kit
from kit import process
from kit.chain.capture import Chain
from kit.chain.step import CellStep
from kit._export import export_chain

KEYS = 50


def produce(conn: kit.Connection, topic: str, n: int) -> None:
    producer = conn.producer(linger_ms=20, queue_buffering_max_messages=2_000_000)
    for i in range(n):
        value = json.dumps({"i": i, "key": f"k{i % KEYS}", "v": i % 1000}).encode()
        while True:
            try:
                producer.produce(
                    topic, key=f"k{i % KEYS}".encode(), value=value, partition=i % 4
                )
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(120)


def count(conn: kit.Connection, topic: str) -> int:
    return next((t.messages for t in conn.topics() if t.name == topic), 0)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--short", action="store_true", help="40,000 records, 4 kills")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    n, kills = (40_000, 4) if args.short else (args.records, args.kills)
    rng = random.Random(args.seed)
    external = os.environ.get("KIT_TEST_BROKER")
    conn = kit.connect(external or os.environ.get("KIT_BROKER"))
    exactly_once = conn.capabilities.transactions
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"res-in-{suffix}", f"res-out-{suffix}", f"res-{suffix}"
    conn.create_topic(source, partitions=4)
    conn.create_topic(sink, partitions=4)
    started = time.monotonic()
    try:
        produce(conn, source, n)
        chain = Chain()
        chain.add_step(
            CellStep(
                "double", "polars", source, sink, 'df.with_columns(w=pl.col("v") * 2)'
            )
        )
        folder = export_chain(
            chain, Path(tempfile.mkdtemp()) / "svc", name=name, topics=[source, sink]
        )
        for _ in range(kills):
            service = process.start_service(folder, name=name, connection=conn)
            process.wait_running(service, timeout=60)
            time.sleep(rng.uniform(0.2, 1.5))  # a random moment
            os.kill(service.pid, signal.SIGKILL)
            process.stop_service(name)
        service = process.start_service(folder, name=name, connection=conn)
        process.wait_running(service, timeout=60)
        deadline = time.monotonic() + max(120, n / 2000)
        while True:
            # Done when every input has an output (duplicates do not count).
            if count(conn, sink) >= n:
                done = kit.read(sink, dedupe=True, progress=False, connection=conn)
                if done["i"].n_unique() >= n:
                    break
            if time.monotonic() > deadline:
                print(json.dumps({"error": "timed out", "outputs": count(conn, sink)}))
                return 1
            time.sleep(1.0)
        process.stop_service(name)
        raw = kit.read(sink, progress=False, connection=conn)
        out = (
            raw
            if exactly_once
            else kit.read(sink, dedupe=True, progress=False, connection=conn)
        )
        lost = n - out["i"].n_unique()
        duplicated = out.height - out["i"].n_unique()
        expected = (
            pl.DataFrame({"i": range(n)})
            .with_columns(key=pl.format("k{}", pl.col("i") % KEYS), v=pl.col("i") % 1000)
            .group_by("key").agg(n=pl.len(), w=(pl.col("v") * 2).sum()).sort("key")
        )  # fmt: skip
        got = out.group_by("key").agg(n=pl.len(), w=pl.col("w").sum()).sort("key")
        results = {
            "records": n,
            "kills": kills,
            "guarantee": "exactly-once" if exactly_once else "at-least-once + identity",
            "lost": lost,
            "duplicated_after_dedupe": duplicated,
            "raw_duplicates": raw.height - n,
            "per_key_equal": got.equals(expected),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(results))
        return 0 if lost == 0 and duplicated == 0 and results["per_key_equal"] else 1
    finally:
        process.stop_service(name)
        conn.delete_topics([source, sink])


if __name__ == "__main__":
    sys.exit(main())
