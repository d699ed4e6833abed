"""A service whose broker goes away says so in its status (never "running"
while nothing can run); a broker that comes back as another cluster (the
embedded memory broker restarted empty) stops it, saying why. (Riding out a
restart of the same cluster: tests/test_kafka_engine.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain
from kit.chain.step import CellStep
from kit.cli import main
from kit.cli.services import _status_lines
from kit.runtime.service import UNREACHABLE

QUIX = 'sdf = sdf.apply(lambda v: {**v, "seen": True})'
TOPICS = ["raw", "doubled", "marked"]


def chain_folder(folder: Path) -> Path:
    """A Polars step and a Quix step after it."""
    chain = Chain()
    chain.add_step(CellStep("double", "polars", "raw", "doubled", "df.with_columns(v2=pl.col('v') * 2)"))  # fmt: skip
    chain.add_step(CellStep("mark", "quix", "double", "marked", QUIX))
    return export_chain(chain, folder, name="bd", topics=TOPICS)


def states(service: process.Service) -> list[str]:
    status = service.status() or {"steps": []}
    return [s["state"] for s in status["steps"]]


def until(check: Any, what: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.3)


@pytest.mark.tansu  # the memory broker restarted empty: another cluster
def test_a_service_shows_an_unreachable_broker_then_stops_on_another_one(
    private_state: Path, tmp_path: Path
) -> None:
    from kit import _broker

    info, _ = _broker.start()
    port = int(info.address.rsplit(":", 1)[1])
    conn = kit.connect(info.address)
    folder = chain_folder(tmp_path / "svc")
    for topic in TOPICS:
        conn.create_topic(topic, partitions=2, exist_ok=True)
    service = process.start_service(folder, name="bd", connection=conn)
    try:
        process.wait_running(service)
        _broker.stop()
        until(
            lambda: states(service) == [UNREACHABLE] * 2,
            lambda: f"steps still shown as {states(service)} with the broker down",
        )
        lines = "\n".join(_status_lines(service.status()))
        assert UNREACHABLE in lines and f"broker unreachable at {info.address}" in lines
        # The memory broker is back empty: another cluster. The service's
        # offsets, state and identities belong to the old one: it stops.
        _broker.start(port=port)
        until(lambda: not service.alive, lambda: f"still {states(service)}", 60)
        gone = next(e for e in process.ended_services() if e.name == "bd")
        assert gone.how == "failed (exit code 1)", gone
        assert "another cluster than the one the service started on" in gone.log_tail
        shown = CliRunner().invoke(main, ["status"]).output
        assert "bd  failed (exit code 1)" in shown and "start it again" in shown, shown
    finally:
        process.stop_service("bd")


def test_a_step_whose_input_topic_is_missing_says_so(
    connection: kit.Connection, tmp_path: Path
) -> None:
    """Not "running in 0" as if all were well: the step waits for its input
    topic, saying so, and reads it once it exists."""
    import uuid

    import polars as pl

    from kit.runtime.service import NO_INPUT

    suffix = uuid.uuid4().hex[:6]
    source, sink = f"late-in-{suffix}", f"late-out-{suffix}"
    chain = Chain()
    chain.add_step(CellStep("copy", "polars", source, sink, "df"))
    folder = export_chain(chain, tmp_path / "svc", name="late", topics=[source, sink])
    connection.create_topic(sink, partitions=1)
    name = f"late-{suffix}"
    service = process.start_service(folder, name=name, connection=connection)
    try:
        process.wait_running(service)
        until(lambda: states(service) == [NO_INPUT], lambda: states(service))
        step = service.status()["steps"][0]  # type: ignore[index]
        assert f"input topic {source!r} does not exist" in step["last_error"]
        connection.create_topic(source, partitions=1)
        until(lambda: states(service) == ["running"], lambda: states(service))
        frame = pl.DataFrame({"v": list(range(50))})
        kit.replay(
            frame, source, speed=None, progress=False, connection=connection
        ).wait(30)
        until(
            lambda: (
                kit.read(sink, connection=connection, progress=False, idle=0.5).height
                == 50
            ),
            lambda: service.status(),
            60,
        )
    finally:
        process.stop_service(name)
        connection.delete_topics([source, sink])
