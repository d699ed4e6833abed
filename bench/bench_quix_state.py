"""A stateful Quix step on the broker: the kit's profile vs one record per batch.

A quixstreams app counting records per key in state (the shape of a Quix
step with per-key state or a window), fed ``--records`` JSON records over 2
partitions, run twice in fresh processes: with the kit's producer settings
(normal batching; state recovery is given each changelog's true end), and
with ``batch.num.messages=1``, what the kit used before to keep the embedded
broker's high watermark usable for recovery. Prints the msg/s of each (from
the first output to the last; from the launch if the first look already saw
over half of them) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import kit


def run_app(args: argparse.Namespace) -> None:
    """The app itself (in a child process)."""
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    extra = json.loads(args.producer) if args.producer else None
    app = conn.application(
        consumer_group=args.group,
        state_dir=args.state,
        auto_offset_reset="earliest",
        loglevel="WARNING",
        **({"producer_extra_config": extra} if extra else {}),
    )
    sdf = app.dataframe(app.topic(args.source, value_deserializer="json"))

    def count(value: dict[str, Any], state: Any) -> dict[str, Any]:
        n = state.get("n", 0) + 1
        state.set("n", n)
        return {"key": value["key"], "n": n}

    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(app.topic(args.sink, value_serializer="json"))
    app.run()


def measure(conn: kit.Connection, n: int, producer: dict[str, Any] | None) -> float:
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"bench-state-in-{suffix}", f"bench-state-out-{suffix}"
    conn.create_topic(source, partitions=2)
    conn.create_topic(sink, partitions=2)
    out = conn.producer()
    for i in range(n):
        key = f"k{i % 10}"
        out.produce(source, key=key.encode(), value=json.dumps({"key": key, "i": i}))
    out.flush(60)
    with tempfile.TemporaryDirectory() as state:
        command = [
            sys.executable, __file__, "--app", "--source", source, "--sink", sink,
            "--group", f"bench-state-{suffix}", "--state", state,
            "--producer", json.dumps(producer) if producer else "",
        ]  # fmt: skip
        env = {**os.environ, "KIT_BROKER": str(conn.address)}
        app = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        launched = time.monotonic()
        try:
            first, seen = None, 0
            deadline = time.monotonic() + 600
            while seen < n:
                if app.poll() is not None:
                    raise RuntimeError(f"the app exited with {app.returncode}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {seen} of {n} outputs in 600 s")
                seen = next((t.messages for t in conn.topics() if t.name == sink), 0)
                if seen and first is None:
                    first, at_first = time.monotonic(), seen
                time.sleep(0.1)
        finally:
            app.kill()
            app.wait()
            conn.delete_topics([source, sink])
    assert first is not None
    if at_first > n // 2:  # too fast to see it start: count from the launch
        return n / (time.monotonic() - launched)
    return (n - at_first) / max(time.monotonic() - first, 1e-6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--short", action="store_true", help="10,000 records")
    parser.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    for name in ("--source", "--sink", "--group", "--state", "--producer"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app:
        run_app(args)
        return
    n = 10_000 if args.short else args.records
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    kit_rate = measure(conn, n, None)
    old_rate = measure(conn, n, {"batch.num.messages": 1})
    print(json.dumps({
        "records": n,
        "kit_profile_msg_per_s": round(kit_rate),
        "one_record_per_batch_msg_per_s": round(old_rate),
        "ratio": round(kit_rate / old_rate, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
