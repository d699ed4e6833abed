"""What the notebook shows is what the service does, on real messy data: the
Formula 1 timing feed of the 2023 Baku sprint (notebooks/data), as one sparse
record per car update (most carry two or three of a dozen fields, nested
objects among them), with garbage mixed in.

A pass-through Polars step run as an exported service, fed all at once
(20,000-record batches) and trickled in (small batches), killed and
restarted mid-stream: every valid record comes out exactly once (after
de-duplication by identity), with its own fields only, nested as it came,
plus the step's column, equal to an independent computation; the garbage,
and only the garbage, is dead-lettered."""

from __future__ import annotations

import gzip
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import kit
from kit import process
from kit._export import export_chain
from kit._parity import record_samples
from kit.chain.capture import Chain
from kit.chain.step import CellStep

from ._parity import run_parity_test

pytestmark = pytest.mark.slow

FEED = (
    Path(__file__).parents[1]
    / "notebooks"
    / "data"
    / "f1_2023_baku_sprint_TimingData.jsonStream.gz"
)
STEP = (
    'parts = pl.col("last_lap").str.split(":"); '
    "df.with_columns(lap_s=parts.list.first().cast(pl.Float64) * 60 "
    "+ parts.list.last().cast(pl.Float64))"
)
GARBAGE = [
    b"not json",
    b"[1, 2]",
    b'{"car": "1", "t_ms": "late"}',
    b"\xff\xfe",
    b'{"car": 7',
]


def _clock_ms(text: str) -> int:
    h, m, s = text.split(":")
    return int((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)


def feed_records() -> list[dict[str, Any]]:
    """One record per car per update, with only the fields that update has."""
    out = []
    with gzip.open(FEED, "rt", encoding="utf-8") as handle:
        for line in handle:
            t_ms, message = _clock_ms(line[:12]), json.loads(line[12:])
            for car, update in (message.get("Lines") or {}).items():
                if isinstance(update, dict):
                    out.append(_record(car, t_ms, update))
    return out


def _record(car: str, t_ms: int, update: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"car": car, "t_ms": t_ms}
    if "NumberOfLaps" in update:
        record["lap"] = update["NumberOfLaps"]
    if "Position" in update:
        record["position"] = int(update["Position"])
    if "GapToLeader" in update:
        record["gap"] = update["GapToLeader"]
    last = update.get("LastLapTime")
    if isinstance(last, dict) and last.get("Value"):
        record["last_lap"] = last["Value"]
    interval = update.get("IntervalToPositionAhead")
    if isinstance(interval, dict) and interval:
        record["interval"] = {k.lower(): v for k, v in interval.items()}
    sectors = update.get("Sectors")
    if isinstance(sectors, dict):
        times = {
            f"s{int(k) + 1}": v["Value"]
            for k, v in sectors.items()
            if isinstance(v, dict) and v.get("Value")
        }
        if times:
            record["sectors"] = times
    pit = {k.lower(): update[k] for k in ("InPit", "PitOut") if k in update}
    if pit:
        record["pit"] = pit
    return record


def expected_output(record: dict[str, Any]) -> dict[str, Any]:
    """The step, computed without Polars or the kit."""
    lap_s = None
    if "last_lap" in record:
        parts = record["last_lap"].split(":")
        lap_s = float(parts[0]) * 60 + float(parts[-1])
    return {**record, "lap_s": lap_s}


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def _produce(
    conn: kit.Connection,
    topic: str,
    values: list[tuple[str | None, bytes, int]],
    *,
    pause: float = 0.0,
    chunk: int = 0,
) -> None:
    producer = conn.producer()
    for i, (key, value, stamp) in enumerate(values):
        producer.produce(topic, value=value, key=key, timestamp=stamp)
        if chunk and i % chunk == chunk - 1:
            producer.flush(10)
            time.sleep(pause)
    producer.flush(30)


def _stream(records: list[dict[str, Any]]) -> list[tuple[str | None, bytes, int]]:
    """The records as produced, with the garbage spread through them."""
    base = int(time.time() * 1000) - 4 * 3600 * 1000
    values: list[tuple[str | None, bytes, int]] = [
        (r["car"], json.dumps(r).encode(), base + r["t_ms"]) for r in records
    ]
    for n, junk in enumerate(GARBAGE):
        at = (n + 1) * len(values) // (len(GARBAGE) + 1)
        values.insert(at, ("junk", junk, values[at][2]))
    values.append(("junk", GARBAGE[0] + b" again", values[-1][2]))  # in the sample
    return values


def _wait_out(
    conn: kit.Connection, topic: str, n: int, service: Any, timeout: float = 120
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        frame = kit.read(topic, dedupe=True, connection=conn, progress=False, idle=1.0)
        if frame.height >= n:
            break
        assert service.alive, process.ended_services()
        assert time.monotonic() < deadline, (frame.height, n, service.status())
        time.sleep(1.0)
    return _values(conn, topic)


def _values(conn: kit.Connection, topic: str) -> list[dict[str, Any]]:
    """The output values as written (raw JSON), one per identity."""
    messages = kit.read(
        topic, format="bytes", dedupe=True, connection=conn, progress=False, idle=1.0
    )
    return [json.loads(v) for v in messages["value"].to_list()]


@pytest.mark.parametrize("arrival", ["all at once", "trickled, killed and restarted"])
def test_the_f1_feed_through_a_service_loses_and_invents_nothing(
    connection: kit.Connection, tmp_path: Path, arrival: str
) -> None:
    records = feed_records()
    assert len(records) > 18_000
    assert sum("last_lap" in r for r in records) < len(records) // 20  # sparse
    expected = sorted(_canonical(expected_output(r)) for r in records)
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"f1-{suffix}", f"f1-laps-{suffix}", f"f1-{suffix}"
    connection.create_topic(source, partitions=3)
    connection.create_topic(sink, partitions=3)
    stream = _stream(records)
    chain = Chain()
    chain.add_step(CellStep("laps", "polars", source, sink, STEP))
    if arrival == "all at once":
        _produce(connection, source, stream)
        samples = record_samples(
            chain, list(chain.steps.values()), connection=connection
        )
        folder = export_chain(
            chain, tmp_path / "svc", name=name, topics=[source, sink], samples=samples
        )
        service = process.start_service(folder, name=name, connection=connection)
    else:
        # The export's sample (and schema.json) from the first records only
        # (the first lap times are past record 2,900).
        _produce(connection, source, stream[:4000])
        samples = record_samples(
            chain, list(chain.steps.values()), connection=connection
        )
        folder = export_chain(
            chain, tmp_path / "svc", name=name, topics=[source, sink], samples=samples
        )
        service = process.start_service(folder, name=name, connection=connection)
        process.wait_running(service)
        half = len(stream) // 2
        _produce(connection, source, stream[4000:half], pause=0.02, chunk=250)
        os.kill(service.pid, signal.SIGKILL)  # mid-stream
        process.stop_service(name)
        service = process.start_service(folder, name=name, connection=connection)
        _produce(connection, source, stream[half:], pause=0.02, chunk=250)
    schema = json.loads((folder / "schema.json").read_text())["steps"]["laps"]["fields"]
    assert schema["sectors"] and "last_lap" in schema  # nested, from the sample
    try:
        process.wait_running(service)
        got = _wait_out(connection, sink, len(records), service)
        dead = kit.read(
            source + ".dlq",
            format="bytes",
            connection=connection,
            dedupe=True,
            progress=False,
        )
    finally:
        process.stop_service(name)
    assert sorted(_canonical(v) for v in got) == expected
    assert sorted(dead["value"].to_list()) == sorted([*GARBAGE, GARBAGE[0] + b" again"])
    status = service.status()
    assert status is not None and status["steps"][0]["conflicts"] >= 1
    if arrival == "all at once":  # the generated parity test passes too
        run_parity_test(folder, connection)
        dead_sample = (folder / "parity").glob("dead.*.jsonl")
        assert any(p.read_text() for p in dead_sample)  # garbage in the sample
    connection.delete_topics([source, sink, source + ".dlq"])
