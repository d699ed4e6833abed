"""An exported service: graceful SIGTERM, and replicas that split partitions
and take over from each other."""

from __future__ import annotations

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
from kit.chain.capture import Chain
from kit.chain.step import CellStep

pytestmark = pytest.mark.slow


def _count(conn: kit.Connection, topic: str) -> int:
    return next((t.messages for t in conn.topics() if t.name == topic), 0)


def _setup(conn: kit.Connection, tmp_path: Path, n: int) -> tuple[str, str, Path]:
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"sv-in-{suffix}", f"sv-out-{suffix}"
    conn.create_topic(source, partitions=4)
    conn.create_topic(sink, partitions=4)
    producer = conn.producer()
    for i in range(n):
        producer.produce(
            source,
            key=str(i % 7).encode(),
            value=json.dumps({"i": i}).encode(),
            partition=i % 4,
        )
    producer.flush(30)
    chain = Chain()
    chain.add_step(
        CellStep("copy", "polars", source, sink, 'df.with_columns(j=pl.col("i") + 1)')
    )
    folder = export_chain(chain, tmp_path / "svc", name="svc", topics=[source, sink])
    return source, sink, folder


def test_sigterm_finishes_the_batch_commits_and_exits_0(
    connection: kit.Connection, tmp_path: Path
) -> None:
    n = 30_000
    source, sink, folder = _setup(connection, tmp_path, n)
    name = f"term-{uuid.uuid4().hex[:6]}"
    service = process.start_service(folder, name=name, connection=connection)
    process.wait_running(service)
    while _count(connection, sink) == 0:
        time.sleep(0.02)
    started = time.monotonic()
    os.kill(service.pid, signal.SIGTERM)
    child = process._CHILDREN[name]
    assert child.wait(15) == 0
    assert time.monotonic() - started < 5
    assert service.status()["steps"][0]["state"] == "stopped"  # type: ignore[index]
    # Nothing in flight was lost or left uncommitted: a restart finishes the
    # input without writing any record twice.
    service = process.start_service(folder, name=name, connection=connection)
    process.wait_running(service)
    deadline = time.monotonic() + 60
    while _count(connection, sink) < n:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    process.stop_service(name)
    out = kit.read(sink)
    assert out.height == n and out["i"].n_unique() == n
    connection.delete_topics([source, sink])


def test_two_replicas_split_partitions_and_take_over(
    connection: kit.Connection, tmp_path: Path
) -> None:
    n = 40_000
    source, sink, folder = _setup(connection, tmp_path, n)
    group = f"replicas-{uuid.uuid4().hex[:6]}"
    a = process.start_service(
        folder, name=f"{group}-a", connection=connection, group=group
    )
    b = process.start_service(
        folder, name=f"{group}-b", connection=connection, group=group
    )
    try:
        process.wait_running(a)
        process.wait_running(b)
        deadline = time.monotonic() + 30
        while True:  # both replicas work: the group split the 4 partitions
            sa, sb = a.status(), b.status()
            if (
                sa
                and sb
                and sa["steps"][0]["records_in"] > 0
                and sb["steps"][0]["records_in"] > 0
            ):
                break
            assert time.monotonic() < deadline, (sa, sb)
            time.sleep(0.1)
        os.kill(a.pid, signal.SIGKILL)  # b takes over a's partitions
        deadline = time.monotonic() + 90
        while (
            _count(connection, sink) < n
            or (b.status() or {"steps": [{}]})["steps"][0].get("lag") != 0
        ):
            assert time.monotonic() < deadline, _count(connection, sink)
            time.sleep(0.3)
    finally:
        process.stop_service(f"{group}-a")
        process.stop_service(f"{group}-b")
    out = kit.read(sink, dedupe=True)
    assert out.height == n and sorted(out["i"].to_list()) == list(range(n))
    connection.delete_topics([source, sink])


def test_a_service_that_dies_is_reported_with_how_and_its_log(
    connection: kit.Connection, tmp_path: Path
) -> None:
    from kit.live.status import status_html

    source, sink, folder = _setup(connection, tmp_path, 100)
    name = f"dies-{uuid.uuid4().hex[:6]}"
    service = process.start_service(folder, name=name, connection=connection)
    process.wait_running(service)
    os.kill(service.pid, signal.SIGSEGV)
    deadline = time.monotonic() + 15
    while any(s.name == name for s in process.list_services()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ended = [e for e in process.ended_services() if e.name == name]
    assert ended and ended[0].how == "crashed (SIGSEGV)"
    assert ended[0].exit_code == -signal.SIGSEGV and ended[0].last_state == "running"
    html = status_html(process.list_services(), process.ended_services())
    assert name in html and "✖ crashed (SIGSEGV)" in html
    # `kit stop NAME` (like %stream stop, or starting it again) forgets it.
    from click.testing import CliRunner

    from kit.cli import main

    shown = CliRunner().invoke(main, ["status"])
    assert f"{name}  crashed (SIGSEGV) at" in shown.output
    cleared = CliRunner().invoke(main, ["stop", name])
    assert cleared.exit_code == 0 and f"Cleared ended: {name}" in cleared.output
    assert not [e for e in process.ended_services() if e.name == name]
    connection.delete_topics([source, sink])


def test_stream_stop_clears_ended_records(
    ip_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import asdict

    name = f"gone-{uuid.uuid4().hex[:6]}"
    ours = process.EndedService(
        name, 1, "x.log", time.time(), 1, "failed", "boom", owner=os.getpid()
    )
    theirs = process.EndedService(
        f"{name}-x", 1, "x.log", time.time(), 1, "failed", "boom", owner=1
    )
    for record in (ours, theirs):
        path = process._dir() / f"{record.name}.ended.json"
        path.write_text(json.dumps(asdict(record)))
    assert {name, f"{name}-x"} <= {e.name for e in process.ended_services()}
    # %stream stop acts on what this kernel started ...
    ip_session.run_line_magic("stream", f"stop {name}")
    assert f"Cleared ended: {name}\n" in capsys.readouterr().out
    assert name not in {e.name for e in process.ended_services()}
    assert f"{name}-x" in {e.name for e in process.ended_services()}
    # ... and with --all on what others started too.
    ip_session.run_line_magic("stream", f"stop {name} --all")
    assert f"Cleared ended: {name}-x" in capsys.readouterr().out
    assert f"{name}-x" not in {e.name for e in process.ended_services()}


def test_a_failed_service_seen_by_another_process_is_recorded(
    private_state: Path,
) -> None:
    """Its status file says a step failed: even without the exit code (not our
    child), it is listed as failed, not dropped as a clean stop."""
    import subprocess

    from kit.runtime.status import StepStatus, write_status

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = process._dir()
    step = StepStatus("copy", "polars", "in", "out", "at-least-once")
    step.state, step.last_error = "failed", "DeliveryFailed: ..."
    write_status(str(folder / "gone.status.json"), "gone", [step], stopped=True)
    record = process.Service(
        "gone", dead.pid, str(folder), str(folder / "gone.log"),
        str(folder / "gone.status.json"), time.time(),
    )  # fmt: skip
    (folder / "gone.json").write_text(json.dumps(record.__dict__))
    assert "gone" not in {s.name for s in process.list_services()}
    ended = [e for e in process.ended_services() if e.name == "gone"]
    assert ended and ended[0].how == "failed" and ended[0].exit_code is None


def test_status_and_stop_act_on_this_kernels_services(
    ip_session: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A service another process started (here: a stand-in process with a
    record saying so) is left out of %stream status and %stream stop, which
    say it is there; --all reaches it."""
    import subprocess

    from kit.live.status import status_page

    name = f"elsewhere-{uuid.uuid4().hex[:6]}"
    stand_in = subprocess.Popen(["sleep", "60"])
    record = process.Service(
        name, stand_in.pid, str(tmp_path), str(tmp_path / "x.log"),
        str(tmp_path / "x.status.json"), time.time(), owner=1,
    )  # fmt: skip
    (process._dir() / f"{name}.json").write_text(json.dumps(record.__dict__))
    try:
        mine = status_page(mine=True)
        assert name not in mine and "started elsewhere" in mine
        assert "%stream status --all" in mine
        assert name in status_page(mine=False)
        ip_session.run_line_magic("stream", f"stop {name}")
        out = capsys.readouterr().out
        assert f"Nothing running matches {name!r}." in out
        assert f"Still running, started elsewhere: {name}" in out and "--all" in out
        assert stand_in.poll() is None
        ip_session.run_line_magic("stream", f"stop {name} --all")
        assert f"Stopped: {name}" in capsys.readouterr().out
        assert stand_in.wait(10) == -signal.SIGTERM
    finally:
        stand_in.kill()
        stand_in.wait()
        (process._dir() / f"{name}.json").unlink(missing_ok=True)
