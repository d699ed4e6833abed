"""A prototype sees records in the order they arrived, not sorted by time:
a record that came late is late in the prototype, as it is live."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

import kit
from kit import process
from kit.chain.capture import kernel_chain

pytestmark = pytest.mark.slow


def test_a_late_record_is_late_in_the_prototype_too(
    ip: Any, connection: kit.Connection
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, service = f"late-{suffix}", f"late-{suffix}"
    connection.create_topic(source, partitions=1)
    base = (int(time.time() * 1000) - 3_600_000) // 5000 * 5000  # a window start
    arrivals = [*range(0, 21), 2, 30]  # seconds; the 2 comes after the 20
    producer = connection.producer()
    for second in arrivals:
        producer.produce(
            source, key=b"car-1", value=json.dumps({"s": second}).encode(),
            timestamp=base + second * 1000,
        )  # fmt: skip
    producer.flush(10)
    kernel_chain().steps.clear()
    ip.run_cell("from datetime import timedelta", store_history=True)
    cell = (
        f"%%stream w_{suffix} --input {source} --quix\n"
        "sdf = sdf.tumbling_window(timedelta(seconds=5)).count().final()"
    )
    prototype = ip.run_cell(cell, store_history=True).result
    pairs = zip(prototype["start"].to_list(), prototype["value"].to_list(), strict=True)
    counts = sorted(pairs)
    # 0-4, 5-9, 10-14, 15-19 s: five each; 20-24: one (the 30 s closes it);
    # the 2 s that came after the 20 s is late, not a sixth in the first.
    assert counts == [(base + i * 5000, n) for i, n in enumerate([5, 5, 5, 5, 1])]
    live = ip.run_line_magic("stream", f"run --name {service}")
    try:
        live.wait(idle=1.0, timeout=60)
        out = kit.read(f"w_{suffix}", dedupe=True)
        got = zip(out["start"].to_list(), out["value"].to_list(), strict=True)
        assert sorted(got) == counts
        step = live.status()["steps"][0]  # type: ignore[index]
        assert step["late"] == 1
    finally:
        process.stop_service(service)
        kernel_chain().steps.clear()
        connection.delete_topics([source, f"w_{suffix}"], force=True)
