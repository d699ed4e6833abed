"""Durable mode: topics and group offsets survive a broker restart."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

import kit
from kit import _broker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None, reason="durable mode needs npm"),
]


def _consume(conn: kit.Connection, topic: str, *, commit_first: int | None) -> int:
    consumer = conn.consumer("durable-group", auto_offset_reset="earliest")
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + 8
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            seen += 1
            if commit_first is not None:
                consumer.commit(message, asynchronous=False)
                if seen == commit_first:
                    break
    finally:
        consumer.close()
    return seen


def test_durable_broker_keeps_topics_and_offsets(
    private_state: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    info, started = _broker.start(durable=data)
    assert started and info.storage.startswith("s3://")
    conn = kit.connect()
    assert "durable" in conn.describe()
    conn.create_topic("kept", partitions=1)
    producer = conn.producer()
    for i in range(100):
        producer.produce("kept", value=json.dumps({"i": i}).encode())
    producer.flush(10)
    assert _consume(conn, "kept", commit_first=40) == 40
    _broker.stop()
    assert any(data.iterdir()), "nothing was written to the durable folder"

    _broker.start(durable=data)
    conn = kit.connect()
    assert {t.name: t.messages for t in conn.topics()}["kept"] == 100
    # The group resumes after its 40 committed records.
    assert _consume(conn, "kept", commit_first=None) == 60
