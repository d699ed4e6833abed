"""``kit demo --check``: broker up, demo telemetry in, read back, shown (no JupyterLab)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

__all__ = ["run"]


def run(
    address: str | None, *, topic: str, count: int, echo: Callable[[str], None] = print
) -> list[dict[str, object]]:
    """Produce ``count`` demo records to ``topic`` and read them back."""
    import polars as pl

    from .connection import connect
    from .io.demo import TelemetryGenerator

    started = time.monotonic()
    conn = connect(address)
    echo(conn.describe())
    conn.create_topic(topic, partitions=4)
    generator = TelemetryGenerator(cars=5, seed=7)
    producer = conn.producer()
    sent = 0
    run_id = uuid.uuid4().hex[:8]
    while sent < count:
        for record in generator.step(0.1):
            if sent == count:
                break
            record["run"] = run_id
            producer.produce(
                topic,
                key=record["car"].encode(),
                value=json.dumps(record).encode(),
                timestamp=int(record["ts"]),
            )
            sent += 1
    producer.flush(10)
    echo(f"Produced {sent} telemetry records to {topic!r}.")

    consumer = conn.consumer(f"kit-demo-{run_id}", **{"auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    rows: list[dict[str, object]] = []
    deadline = time.monotonic() + 20
    try:
        while len(rows) < sent and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            value = json.loads(message.value())
            if value.get("run") == run_id:
                value["_partition"] = message.partition()
                value["_offset"] = message.offset()
                rows.append(value)
    finally:
        consumer.close()
    frame = pl.DataFrame(rows).select(
        pl.from_epoch("ts", time_unit="ms").alias("time"),
        "car", "lap", "speed", "rpm", "gear", "throttle", "brake", "_partition",
    )  # fmt: skip
    with pl.Config(tbl_rows=10, tbl_cols=-1, tbl_hide_dataframe_shape=True):
        echo(str(frame.head(10)))
    took = time.monotonic() - started
    echo(f"Read back {len(rows)} of {sent} records in {took:.1f} s.")
    if len(rows) != sent:
        from ._errors import KitError

        raise KitError(f"Read back only {len(rows)} of {sent} records within 20 s.")
    return rows
