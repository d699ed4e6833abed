"""The tap: a background consumer with a bounded buffer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import kit
from kit.live.tap import Tap
from tests.conftest import produce_json


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_tap_follows_from_latest_and_keeps_a_bounded_buffer(
    connection: kit.Connection, topic_name: str
) -> None:
    topic = topic_name
    connection.create_topic(topic, partitions=1)  # one arrival order
    produce_json(connection, topic, [{"old": i} for i in range(10)])
    tap = Tap(topic, rows=100).start()
    try:
        produce_json(connection, topic, [{"i": i} for i in range(500)])
        _wait(lambda: tap.total == 500)
        snapshot = tap.snapshot()
        assert snapshot.height == 100
        assert "old" not in snapshot.columns  # started at the end
        assert snapshot["i"].to_list() == list(range(400, 500))
        assert tap._buffered < 100 + 500  # old batches were dropped
    finally:
        tap.stop()
        connection.delete_topics([topic])
    assert not tap.running


def test_tap_from_earliest_with_count_stops_by_itself(
    connection: kit.Connection, topic: str
) -> None:
    produce_json(connection, topic, [{"i": i} for i in range(50)])
    tap = Tap(topic, start="earliest", count=30).start()
    assert tap.wait(10)
    assert tap.total == 30


def test_tap_counts_bad_records_and_sees_new_fields(
    connection: kit.Connection, topic: str
) -> None:
    tap = Tap(topic, start="earliest").start()
    try:
        produce_json(connection, topic, [{"speed": 1.0}])
        _wait(lambda: tap.total == 1)
        producer = connection.producer()
        producer.produce(topic, value=b"\x00\xffbinary")
        producer.flush(5)
        produce_json(connection, topic, [{"speed": 2.0, "drs": True}])
        _wait(lambda: tap.total == 3)
        assert tap.bad == 1 and "binary" in (tap.last_error or "")
        assert "drs" in tap.decoder.schema
        assert tap.describe()["bad"] == 1
    finally:
        tap.stop()


def test_start_at_a_relative_time(connection: kit.Connection, topic: str) -> None:
    now = int(time.time() * 1000)
    produce_json(connection, topic, [{"age": "old"}], timestamp=now - 600_000)
    produce_json(connection, topic, [{"age": "new"}], timestamp=now - 1_000)
    tap = Tap(topic, start="-1m", count=1).start()
    tap.wait(10)
    assert tap.snapshot()["age"].to_list() == ["new"]


def test_until_idle_stops_a_quiet_tap(connection: kit.Connection, topic: str) -> None:
    produce_json(connection, topic, [{"i": i} for i in range(5)])
    started = time.monotonic()
    tap = Tap(topic, start="earliest", idle=1.0).start()
    assert tap.wait(10)
    assert tap.total == 5 and 0.9 <= time.monotonic() - started < 5


def test_a_tap_reopens_where_it_was_after_a_broken_connection(
    connection: kit.Connection, topic: str
) -> None:
    """A connection error closes the consumer; once the broker answers and
    the topic is there, a new one resumes after the last record seen."""
    tap = Tap(topic, start="earliest").start()
    try:
        produce_json(connection, topic, [{"i": i} for i in range(100)])
        _wait(lambda: tap.total == 100)
        tap._suspect = True  # as the client's error callback sets it
        _wait(lambda: not tap._suspect)  # closed, checked, reopened
        produce_json(connection, topic, [{"i": i} for i in range(100, 200)])
        _wait(lambda: tap.total == 200)
        time.sleep(0.5)
        values = tap.snapshot()["i"]
        assert tap.total == 200 and values.n_unique() == 200
        assert tap.running and tap.connection_problem is None
    finally:
        tap.stop()


_BROKER_RESTART = """
import sys, time
import kit
from kit import _broker
from kit.live.tap import Tap

info, _ = _broker.start()
conn = kit.connect(info.address)
conn.create_topic("restart-me", partitions=1)
producer = conn.producer()
producer.produce("restart-me", b'{"v": 1}')
producer.flush(10)
tap = Tap("restart-me", start="earliest", connection=conn).start()
while tap.total == 0:
    time.sleep(0.05)
_broker.stop()
deadline = time.monotonic() + 20
while tap.connection_problem is None:
    assert time.monotonic() < deadline, "no connection problem shown"
    time.sleep(0.05)
print("problem:", tap.describe()["connection_problem"], flush=True)
port = int(info.address.rsplit(":", 1)[1])
_broker.start(port=port)  # memory storage: back without the topic
try:
    tap.wait(20)
except kit.KitError:
    pass
assert not tap.running
print("error:", tap.error, flush=True)
time.sleep(2)  # librdkafka would have crashed the process by now
_broker.stop()
print("alive")
"""


def test_a_broker_restarted_without_the_topic_ends_the_tap_cleanly(
    tmp_path: Path,
) -> None:
    """An embedded broker restarted on the same port (memory storage: no
    topics) would crash a consumer still assigned to its topic; the tap shows
    the outage, closes its consumer, and ends with a clear error. In a child:
    a crash would take pytest down."""
    result = subprocess.run(
        [sys.executable, "-c", _BROKER_RESTART],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KIT_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    assert "problem: broker unreachable at 127.0.0.1:" in result.stdout
    assert "error: Topic 'restart-me' no longer exists on" in result.stdout
    assert "alive" in result.stdout
