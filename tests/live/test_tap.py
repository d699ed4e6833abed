"""The tap: a background consumer with a bounded buffer."""

from __future__ import annotations

import time

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
