"""Dead letters hold only bad records; a step that fails on every record for a
while is broken and stops its service without committing what it failed on."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain
from kit.chain.step import CellStep

pytestmark = pytest.mark.slow


def _produce(conn: kit.Connection, topic: str, values: list[bytes]) -> None:
    producer = conn.producer()
    for value in values:
        producer.produce(topic, value=value)
    producer.flush(10)


def _count(conn: kit.Connection, topic: str) -> int:
    return next((t.messages for t in conn.topics() if t.name == topic), 0)


def _wait(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_broken_polars_step_stops_and_commits_nothing_it_failed_on(
    connection: kit.Connection, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"br-in-{suffix}", f"br-out-{suffix}", f"br-{suffix}"
    connection.create_topic(source, partitions=1)
    connection.create_topic(sink, partitions=1)
    cast = 'df.with_columns(n=pl.col("x").cast(pl.Int64, strict={strict}))'

    def export(strict: bool) -> Path:
        chain = Chain()
        body = cast.format(strict=strict)
        chain.add_step(CellStep("ints", "polars", source, sink, body))
        return export_chain(
            chain, tmp_path / f"svc{strict}", name=name, topics=[source, sink]
        )

    service = process.start_service(export(True), name=name, connection=connection)
    process.wait_running(service)
    _produce(
        connection, source, [json.dumps({"x": str(i)}).encode() for i in range(20)]
    )
    _wait(lambda: _count(connection, sink) == 20)
    for burst in range(4):  # text no integer cast takes: every record fails
        _produce(
            connection,
            source,
            [json.dumps({"x": f"a{burst}{i}"}).encode() for i in range(50)],
        )
        time.sleep(1.5)
    _wait(lambda: not service.alive)
    status = service.status()
    assert status is not None and status["exit_code"] == 1
    step = status["steps"][0]
    assert step["state"] == "failed"
    assert (
        "StepBroken" in step["last_error"]
        and "failed on every record of 3" in step["last_error"]
    )
    assert (
        "steps.py, line" in step["last_error"]
        and "cast(pl.Int64, strict=True)" in step["last_error"]
    )
    assert _count(connection, source + ".dlq") == 0  # nothing dead-lettered ...
    assert _count(connection, sink) == 20
    # ... nor committed: the fixed step goes on from the last good batch.
    process.forget_ended(name)
    service = process.start_service(export(False), name=name, connection=connection)
    process.wait_running(service)
    _wait(lambda: _count(connection, sink) == 220)
    out = kit.read(sink, dedupe=True)
    assert out.height == 220 and out["n"].null_count() == 200
    process.stop_service(name)
    connection.delete_topics([source, sink])


def test_a_quix_step_dead_letters_bad_records_and_stops_when_broken(
    connection: kit.Connection, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"qd-in-{suffix}", f"qd-out-{suffix}", f"qd-{suffix}"
    connection.create_topic(source, partitions=1)
    connection.create_topic(sink, partitions=1)
    chain = Chain()
    body = 'sdf = sdf.apply(lambda v: {"inverse": 1 / v["x"]})'
    chain.add_step(CellStep("inverse", "quix", source, sink, body))
    folder = export_chain(chain, tmp_path / "svc", name=name, topics=[source, sink])
    service = process.start_service(folder, name=name, connection=connection)
    process.wait_running(service)
    values = [json.dumps({"x": x}).encode() for x in (1, 2, 0, 4)]
    values += [b"not json", b'{"x": 5}', b"[1, 2]"]
    _produce(connection, source, values)
    _wait(
        lambda: (
            _count(connection, sink) == 4 and _count(connection, source + ".dlq") == 3
        )
    )
    dead = kit.read(source + ".dlq", format="bytes")
    assert sorted(dead["value"].to_list()) == sorted(
        [b'{"x":0}', b"not json", b"[1,2]"]
    )
    assert service.alive
    _wait(lambda: service.status()["steps"][0]["dlq"] == 3)  # type: ignore[index]
    step = service.status()["steps"][0]  # type: ignore[index]
    assert "not a JSON object: list" in (step["last_error"] or "")  # the last one
    # Every record failing, a hundred in a row: broken, the service stops.
    _produce(connection, source, [b'{"x": 0}'] * 150)
    _wait(lambda: not service.alive)
    status = service.status()
    assert status is not None and "StepBroken" in status["failed"]
    assert "failed on every record of 100 batches in a row" in status["failed"]
    assert "steps.py, line" in status["failed"]
    process.forget_ended(name)
    connection.delete_topics([source, sink, source + ".dlq"])
