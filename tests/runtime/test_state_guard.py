"""A Quix window chain gives the same, correct windows and alerts around a
restart of the embedded broker and after its input is deleted and created
again: its local state is checked against the broker (kit.runtime.state_guard)
instead of silently dropping every record as late. Records a window does drop
as late are counted and shown; a Quix step that fails is shown as failed."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain
from kit.chain.step import CellStep

pytestmark = pytest.mark.slow

BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
MACHINES, READINGS = 4, 600  # a reading every 250 ms: 150 s, 15 windows each
WINDOW = 'sdf = sdf.group_by("machine").tumbling_window(timedelta(seconds=10)).agg(n=Count(), hi=Max("temp")).final()'
ALERT = 'df.filter(pl.col("hi") > 45).select("start", "hi", machine=pl.col("_key"))'
HELPERS = "from datetime import timedelta\nfrom quixstreams.dataframe.windows import Count, Max"


def fleet() -> pl.DataFrame:
    """Readings of a few machines, with spikes over 45 °C now and then."""
    rows = [
        {
            "machine": f"m{m}",
            "ts": BASE + timedelta(milliseconds=250 * i),
            "temp": 20.0 + (i % 50) / 10 + (30.0 if (i + 97 * m) % 173 == 0 else 0.0),
        }
        for m in range(MACHINES)
        for i in range(READINGS)
    ]
    return pl.DataFrame(rows).sort("ts")


def expected_windows(frame: pl.DataFrame) -> pl.DataFrame:
    """The closed 10 s windows per machine, by Polars alone (each machine's
    last window never closes: no later reading of that machine arrives)."""
    ms = frame["ts"].dt.epoch("ms")
    windows = (
        frame.with_columns(start=(ms // 10_000) * 10_000)
        .group_by("machine", "start")
        .agg(n=pl.len(), hi=pl.col("temp").max())
    )
    last = windows.group_by("machine").agg(pl.col("start").max().alias("last"))
    return (
        windows.join(last, on="machine")
        .filter(pl.col("start") < pl.col("last"))
        .drop("last")
        .sort("machine", "start")
    )


def _end_offsets(conn: kit.Connection, topic: str) -> dict[int, int]:
    frame = kit.read(topic, connection=conn, progress=False, idle=1.0)
    if frame.is_empty():
        return {}
    return dict(frame.group_by("_partition").agg(pl.col("_offset").max() + 1).rows())


def _new_rows(conn: kit.Connection, topic: str, before: dict[int, int]) -> pl.DataFrame:
    """The records written to ``topic`` since ``before`` (end offsets)."""
    frame = kit.read(topic, connection=conn, progress=False, idle=1.0)
    start = pl.col("_partition").replace_strict(
        before, default=0, return_dtype=pl.Int64
    )
    return frame.filter(pl.col("_offset") >= start)


def _run(
    conn: kit.Connection, folder: Path, name: str, want: int, topic: str
) -> dict[str, Any]:
    """Start the service, wait until ``topic`` got ``want`` new windows and
    the counters stand still; stop it; its last status."""
    before = _end_offsets(conn, topic)
    service = process.start_service(folder, name=name, connection=conn)
    try:
        process.wait_running(service)
        deadline = time.monotonic() + 90
        while sum(_end_offsets(conn, topic).values()) - sum(before.values()) < want:
            assert service.alive, process.ended_services()
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.5)
        time.sleep(1.5)  # the last records' counts settle
    finally:
        process.stop_service(name)
    status = service.status()  # the last one, written as it stopped
    assert status is not None and status.get("stopped"), status
    status["new"] = _new_rows(conn, topic, before)
    return status


def _windows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        machine="_key",
        start=pl.col("start").cast(pl.Int64),
        n=pl.col("n").cast(pl.UInt32),
        hi="hi",
    ).sort("machine", "start")


def _replay(conn: kit.Connection, topic: str, frame: pl.DataFrame) -> None:
    conn.create_topic(topic, partitions=3, exist_ok=True)
    kit.replay(frame, topic, speed=None, key="machine", timestamp="ts",
               keep_timestamps=True, progress=False, connection=conn).wait(60)  # fmt: skip


def test_windows_and_alerts_are_the_same_around_a_broker_restart(
    private_state: Path, tmp_path: Path
) -> None:
    from kit import _broker

    frame = fleet()
    expected = expected_windows(frame)
    alerts = expected.filter(pl.col("hi") > 45)
    assert 10 < alerts.height < expected.height  # the data has a few alerts

    info, _ = _broker.start()
    port = int(info.address.rsplit(":", 1)[1])
    conn = kit.connect(info.address)
    chain = Chain()
    chain.add_imports_from([HELPERS])
    chain.add_step(CellStep("win", "quix", "fleet", "win", WINDOW))
    chain.add_step(CellStep("alerts", "polars", "win", "alerts", ALERT))
    topics = ["fleet", "win", "alerts"]
    folder = export_chain(chain, tmp_path / "svc", name="fleet", topics=topics)

    def one_run() -> dict[str, Any]:
        for topic in ("win", "alerts"):
            conn.create_topic(topic, partitions=3, exist_ok=True)
        _replay(conn, "fleet", frame)
        return _run(conn, folder, "fleet", expected.height, "win")

    first = one_run()
    assert _windows(first["new"]).equals(expected)
    assert first["notices"] == []

    # The memory broker restarts: every topic is gone, the local state stays.
    _broker.stop()
    info, _ = _broker.start(port=port)
    conn = kit.connect(info.address)
    second = one_run()
    assert _windows(second["new"]).equals(expected), second["steps"]
    win = next(s for s in second["steps"] if s["name"] == "win")
    assert win["late"] == 0 and win["records_in"] == frame.height, win
    assert "built on another broker" in second["notices"][0], second["notices"]
    got_alerts = kit.read("alerts", connection=conn, progress=False, idle=1.0)
    assert got_alerts.height == alerts.height
    assert sorted(got_alerts["hi"].to_list()) == sorted(alerts["hi"].to_list())

    # The input deleted and created again on the same broker: the state and
    # offsets belong to records that are gone; the group starts over.
    conn.delete_topics(["fleet"])
    third = one_run()
    assert _windows(third["new"]).equals(expected), third["steps"]
    assert "topic 'fleet' was deleted" in third["notices"][0], third["notices"]
    assert next(s for s in third["steps"] if s["name"] == "win")["late"] == 0

    # A fourth run on the same topic and state needs nothing reset.
    late = pl.DataFrame({"machine": ["m0"] * 3, "ts": [BASE] * 3, "temp": [99.0] * 3})
    _replay(conn, "fleet", late)  # ... and these three arrive after their window
    service = process.start_service(folder, name="fleet", connection=conn)
    try:
        status = process.wait_running(service)
        assert status["notices"] == []
        deadline = time.monotonic() + 30
        while (
            next(s for s in service.status()["steps"] if s["name"] == "win")["late"] < 3
        ):  # type: ignore[index]
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.3)
        from kit.live.status import status_html

        html = status_html([service])
        assert "<th>late</th>" in html and "kit-bad" in html
    finally:
        process.stop_service("fleet")
    log = Path(service.log).read_text()
    assert "InvalidChangelogOffset" not in log and "Traceback" not in log, log[-2000:]


def test_a_failing_quix_step_is_shown_as_failed(
    connection: kit.Connection, tmp_path: Path
) -> None:
    """A Quix step that fails on every record is broken: the service's last
    status says it failed, with the error, so it is shown as failed also
    where the exit code is not known (another process than its parent, e.g.
    the Jupyter server)."""
    source, sink = f"qf-in-{uuid.uuid4().hex[:6]}", f"qf-out-{uuid.uuid4().hex[:6]}"
    connection.create_topic(source, partitions=1)
    connection.create_topic(sink, partitions=1)
    producer = connection.producer()
    for _ in range(150):  # it fails on every one of them: broken (kit.runtime.broken)
        producer.produce(source, b'{"x": 0}')
    producer.flush(10)
    chain = Chain()
    chain.add_step(
        CellStep("boom", "quix", source, sink, 'sdf = sdf.apply(lambda v: 1 / v["x"])')
    )
    folder = export_chain(chain, tmp_path / "svc", name="qf", topics=[source, sink])
    name = f"qf-{uuid.uuid4().hex[:6]}"
    service = process.start_service(folder, name=name, connection=connection)
    child = process._CHILDREN.pop(name)  # as if another process had started it
    assert child.wait(30) == 1
    status = service.status()
    assert status is not None and status["exit_code"] == 1
    assert "ZeroDivisionError" in status["failed"]
    assert status["steps"][0]["state"] == "failed"
    assert "ZeroDivisionError" in status["steps"][0]["last_error"]
    assert name not in {s.name for s in process.list_services()}
    ended = next(e for e in process.ended_services() if e.name == name)
    assert ended.how == "failed (exit code 1)", ended
    # ... in the notebook, in `kit status` and in the Streams panel's API.
    from click.testing import CliRunner

    from kit.cli import main
    from kit.live.status import status_page

    assert "✖ failed (exit code 1)" in status_page(mine=False)
    shown = CliRunner().invoke(main, ["status"]).output
    assert f"{name}  failed (exit code 1) at" in shown and "ZeroDivisionError" in shown
    process.forget_ended(name)
    connection.delete_topics([source, sink])


def test_a_window_after_a_polars_step_never_counts_a_record_twice(
    connection: kit.Connection, tmp_path: Path
) -> None:
    """The Polars step upstream reads its input again (its committed offsets
    set back, as after a crash that lost them: at-least-once) and writes the
    same records again, with the same identities: the window step drops those
    repeats instead of counting them as late, or twice in a window still open.
    A topic deleted and created again is new data, though: its records are
    not taken for repeats (identities name the topic's incarnation)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    suffix = uuid.uuid4().hex[:8]
    source, middle, sink = f"rp-in-{suffix}", f"rp-mid-{suffix}", f"rp-win-{suffix}"
    frame = fleet()
    expected = expected_windows(frame)
    chain = Chain()
    chain.add_imports_from([HELPERS])
    chain.add_step(CellStep("copy", "polars", source, middle, "df"))
    chain.add_step(CellStep("win", "quix", "copy", sink, WINDOW))
    folder = export_chain(
        chain, tmp_path / "svc", name="rp", topics=[source, middle, sink]
    )
    for topic in (middle, sink):
        connection.create_topic(topic, partitions=3)
    name = f"rp-{suffix}"
    _replay(connection, source, frame)
    first = _run(connection, folder, name, expected.height, sink)
    assert _windows(first["new"]).equals(expected)
    # Back to the start for the Polars step (the service is stopped).
    group = f"kit-{name}-copy"
    rewind = [TopicPartition(source, p, 0) for p in range(3)]
    admin = connection.admin()
    futures = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, rewind)]
    )
    for future in futures.values():
        future.result(10)
    # ... then one reading per machine much later closes the windows still open.
    closing = pl.DataFrame(
        {
            "machine": [f"m{m}" for m in range(MACHINES)],
            "ts": [BASE + timedelta(hours=1)] * MACHINES,
            "temp": [20.0] * MACHINES,
        }
    )
    _replay(connection, source, closing)
    again = _run(connection, folder, name, MACHINES, sink)
    win = next(s for s in again["steps"] if s["name"] == "win")
    shown = {
        k: win.get(k)
        for k in ("records_in", "records_out", "duplicates", "late", "dlq")
    }
    assert win["duplicates"] == frame.height and win["late"] == 0, (
        shown,
        again.get("notices"),
        again["new"].height,
    )
    closed = _windows(again["new"])
    assert closed.height == MACHINES  # each machine's last window, once
    for row in closed.iter_rows(named=True):
        n = frame.filter(
            (pl.col("machine") == row["machine"])
            & (pl.col("ts").dt.epoch("ms") // 10_000 * 10_000 == row["start"])
        ).height
        assert row["n"] == n, (row, n)  # counted once, not twice
    # New data in a topic of the same name: never dropped as repeats.
    connection.delete_topics([source])
    later = frame.with_columns(pl.col("ts") + timedelta(hours=2))
    _replay(connection, source, later)
    third = _run(connection, folder, name, expected.height - MACHINES, sink)
    win = next(s for s in third["steps"] if s["name"] == "win")
    assert win["duplicates"] == 0 and win["late"] == 0, win
    connection.delete_topics([source, middle, sink])
