"""Every %stream subcommand, through a real IPython shell and the real broker."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import polars as pl
import pytest
from IPython.core.error import UsageError

import kit
from kit.live.table import Peek
from kit.live.topics import TopicsView
from tests.conftest import ENGINE, produce_json


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_load_ext_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, time\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "t = time.perf_counter(); ip.run_line_magic('load_ext', 'kit'); took = time.perf_counter() - t\n"
        "heavy = [m for m in ('quixstreams', 'confluent_kafka', 'polars', 'bokeh') if m in sys.modules]\n"
        "print(took, heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    took, heavy = out.stdout.split(" ", 1)
    assert float(took) < 1.0, out.stdout + out.stderr
    assert heavy.strip() == "[]"


def test_help_and_unknown_subcommand(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("stream", "")
    assert "%stream peek TOPIC" in capsys.readouterr().out
    with pytest.raises(
        UsageError, match=r"no subcommand 'peak'; choose one of connect, topics, peek"
    ):
        ip.run_line_magic("stream", "peak telemetry")


def test_connect_shows_profile_and_guarantee(
    ip: Any, connection: kit.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("stream", f"connect {connection.address}")
    out = capsys.readouterr().out
    if ENGINE == "kafka":
        assert "profile kafka" in out and "exactly-once (transactions honoured)" in out
        return
    assert (
        "profile local" in out and "at-least-once" in out and "no exactly-once" in out
    )


def test_connect_to_nothing_is_a_usage_error(
    ip: Any, connection: kit.Connection
) -> None:
    try:
        with pytest.raises(
            UsageError, match=r"No Kafka broker answered at 127\.0\.0\.1:1"
        ):
            ip.run_line_magic("stream", "connect 127.0.0.1:1")
        with pytest.raises(UsageError, match="invalid choice: 'redis'"):
            ip.run_line_magic("stream", "connect --profile redis")
    finally:
        kit.connect(connection.address)  # keep the test broker current


def test_topics_once_and_live(ip: Any, topic: str) -> None:
    frame = ip.run_line_magic("stream", "topics --once")
    assert isinstance(frame, pl.DataFrame) and topic in frame["topic"].to_list()
    view = ip.run_line_magic("stream", "topics")
    assert isinstance(view, TopicsView) and view.running
    assert topic in view.table.value and "msg/s" in view.table.value


def test_peek_magic_with_config(
    ip: Any, connection: kit.Connection, topic: str
) -> None:
    produce_json(connection, topic, [{"lap": i} for i in range(30)])
    ip.run_line_magic("config", "StreamMagics.peek_rows = 7")
    try:
        peek = ip.run_line_magic("stream", f"peek {topic} --from earliest --count 30")
        assert isinstance(peek, Peek) and peek.rows == 7
        _wait(lambda: not peek.running)
        assert peek.tap.total == 30
        assert peek.table.value.count("<tr>") == 1 + 7
    finally:
        ip.run_line_magic("config", "StreamMagics.peek_rows = 20")


def test_peek_bad_position_is_a_usage_error(ip: Any, topic: str) -> None:
    with pytest.raises(UsageError, match="is not a time"):
        ip.run_line_magic("stream", f"peek {topic} --from sometime")
    with pytest.raises(UsageError, match="does not exist"):
        ip.run_line_magic("stream", "peek no-such-topic")


def test_read_into_a_variable(
    ip: Any, connection: kit.Connection, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = int(time.time() * 1000)
    for i in range(10):
        produce_json(connection, topic, [{"lap": i}], timestamp=now + i)
    assert ip.run_line_magic("stream", f"read {topic} --last 3 -> df") is None
    assert ip.user_ns["df"]["lap"].to_list() == [7, 8, 9]
    assert "df: 3 rows" in capsys.readouterr().out
    frame = ip.run_line_magic("stream", f"read {topic} --limit 2")
    assert frame["lap"].to_list() == [0, 1]
    with pytest.raises(UsageError, match="after '->' write a Python variable name"):
        ip.run_line_magic("stream", f"read {topic} -> 1x")
    with pytest.raises(UsageError, match="argument --last: invalid int value"):
        ip.run_line_magic("stream", f"read {topic} --last many")


def test_replay_a_frame_variable(ip: Any, topic: str) -> None:
    ip.user_ns["laps"] = pl.DataFrame(
        {"ts": [1_700_000_000_000 + i for i in range(25)], "v": list(range(25))}
    )
    job = ip.run_line_magic("stream", f"replay laps {topic} --fast")
    job.wait(30)
    assert sorted(kit.read(topic)["v"].to_list()) == list(range(25))


def test_demo_and_stop(
    ip: Any,
    connection: kit.Connection,
    topic_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        ip.run_line_magic("stream", f"demo telemetry --topic {topic_name} --rate 100")
        is None
    )
    job = ip.user_ns["_kit_demo"]
    _wait(lambda: job.sent >= 20)
    assert "Producing demo telemetry" in capsys.readouterr().out
    ip.run_line_magic("stream", "stop demo")
    assert not job.running
    assert f"demo:{topic_name}" in capsys.readouterr().out
    ip.run_line_magic("stream", "stop")
    assert "Nothing is running" in capsys.readouterr().out
    with pytest.raises(UsageError, match="invalid choice: 'ecg'"):
        ip.run_line_magic("stream", "demo ecg")
    connection.delete_topics([topic_name])


def test_plot_magic(ip: Any, connection: kit.Connection, topic: str) -> None:
    from kit.live.plot import LivePlot

    ip.user_ns["laps"] = pl.DataFrame(
        {"lap": [1, 2, 3], "time_s": [105.2, 104.9, 104.1], "car": ["1", "1", "1"]}
    )
    static = ip.run_line_magic("stream", "plot laps --x lap --y time_s --window 100")
    assert isinstance(static, LivePlot) and static.points == 3
    produce_json(
        connection,
        topic,
        [{"speed": 200.0 + i, "rpm": 11000, "car": str(i % 2)} for i in range(20)],
    )
    live = ip.run_line_magic(
        "stream", f"plot {topic} --y speed,rpm --by car --from earliest --window 60s"
    )
    live.widget()  # as the notebook displays it
    live._shown.set()  # the browser drew it (its first message)
    _wait(lambda: live.received == 20 and len(live.sources) == 2)
    ip.run_line_magic("stream", "stop plot")
    assert not live.running
    with pytest.raises(UsageError, match="invalid choice: 'bar'"):
        ip.run_line_magic("stream", f"plot {topic} --kind bar")


def test_negative_relative_times_are_values_not_options(
    ip: Any, connection: kit.Connection, topic: str
) -> None:
    now = int(time.time() * 1000)
    produce_json(connection, topic, [{"age": "old"}], timestamp=now - 600_000)
    produce_json(connection, topic, [{"age": "new"}], timestamp=now - 1_000)
    frame = ip.run_line_magic("stream", f"read {topic} --since -5m")
    assert frame["age"].to_list() == ["new"]
    peek = ip.run_line_magic("stream", f"peek {topic} --from -5m --count 1")
    _wait(lambda: not peek.running)
    assert peek.tap.total == 1


def test_peek_until_idle(ip: Any, connection: kit.Connection, topic: str) -> None:
    produce_json(connection, topic, [{"i": i} for i in range(3)])
    peek = ip.run_line_magic("stream", f"peek {topic} --from earliest --until-idle 1s")
    _wait(lambda: not peek.running)
    assert peek.tap.total == 3
