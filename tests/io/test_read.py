"""kit.read against the real broker: ranges, counts, times, bad records."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest

import kit
from kit import KitError, KitWarning
from tests.conftest import produce_json

BASE = int(time.time() * 1000) - 3_600_000  # an hour ago, in ms


@pytest.fixture
def laps(connection: kit.Connection, topic: str) -> str:
    """3,000 records over 2 partitions, one every 100 ms from BASE."""
    producer = connection.producer(linger_ms=50)  # multi-record batches
    for i in range(3000):
        value = {"i": i, "car": str(i % 5), "telemetry": {"speed": i * 0.1}}
        producer.produce(
            topic,
            key=str(i % 5).encode(),
            value=json.dumps(value).encode(),
            timestamp=BASE + i * 100,
            partition=i % 2,
        )
    producer.flush(10)
    return topic


def test_no_range_reads_everything_despite_wrong_watermarks(
    connection: kit.Connection, laps: str
) -> None:
    frame = kit.read(laps, connection=connection)
    assert frame.height == 3000
    assert frame.columns[:4] == ["_key", "_timestamp", "_partition", "_offset"]
    assert "telemetry.speed" in frame.columns and "_error" not in frame.columns
    assert frame["i"].to_list() == list(range(3000))  # sorted by timestamp
    assert frame["_timestamp"].dtype == pl.Datetime("ms", "UTC")
    assert frame["_key"][7] == "2"


def test_last_takes_the_newest_records_across_partitions(laps: str) -> None:
    frame = kit.read(laps, last=5)
    assert frame["i"].to_list() == [2995, 2996, 2997, 2998, 2999]


def test_since_and_until_bound_by_time(laps: str) -> None:
    frame = kit.read(laps, since=BASE + 100_000, until=BASE + 101_000)
    assert frame["i"].to_list() == list(range(1000, 1010))
    iso = (
        pl.Series([BASE + 299_500])
        .cast(pl.Datetime("ms", "UTC"))
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")[0]
    )
    assert kit.read(laps, since=iso)["i"].to_list() == list(range(2995, 3000))


def test_relative_since(connection: kit.Connection, topic: str) -> None:
    now = int(time.time() * 1000)
    produce_json(connection, topic, [{"age": "old"}], timestamp=now - 600_000)
    produce_json(connection, topic, [{"age": "new"}], timestamp=now - 1_000)
    assert kit.read(topic, since="-5m")["age"].to_list() == ["new"]
    assert kit.read(topic, until="-5m")["age"].to_list() == ["old"]


def test_limit_counts_from_the_start_of_the_range(laps: str) -> None:
    assert kit.read(laps, limit=3)["i"].to_list() == [0, 1, 2]
    assert kit.read(laps, since=BASE + 50_000, limit=2)["i"].to_list() == [500, 501]


def test_bad_records_skip_collect_raise(connection: kit.Connection, topic: str) -> None:
    producer = connection.producer()
    for value in (b'{"v": 1}', b"garbage", b"", b'{"v": 2}'):
        producer.produce(topic, value=value, partition=0)
    producer.flush(10)
    with pytest.warns(KitWarning, match=r"Skipped 2 bad record\(s\).*errors='collect'"):
        skipped = kit.read(topic)
    assert skipped["v"].to_list() == [1, 2]
    collected = kit.read(topic, errors="collect")
    assert collected.height == 4
    assert collected["_error"].is_not_null().sum() == 2
    with pytest.raises(KitError, match=r"partition 0 offset 1 .* could not be decoded"):
        kit.read(topic, errors="raise")


def test_empty_topic_gives_an_empty_frame(topic: str) -> None:
    frame = kit.read(topic)
    assert frame.height == 0
    assert frame.columns == ["_key", "_timestamp", "_partition", "_offset"]


def test_missing_topic_lists_the_topics(topic: str) -> None:
    with pytest.raises(
        KitError, match=r"Topic 'no-such-topic' does not exist .*topics: .*" + topic
    ):
        kit.read("no-such-topic")


def test_bad_arguments_explain_themselves(topic: str) -> None:
    with pytest.raises(ValueError, match="errors='ignore'"):
        kit.read(topic, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="last= reads the newest records"):
        kit.read(topic, last=5, limit=3)
    with pytest.raises(ValueError, match="is not a time"):
        kit.read(topic, since="yesterday-ish")


def test_string_format(connection: kit.Connection, topic: str) -> None:
    producer = connection.producer()
    producer.produce(topic, value=b"plain text", partition=0)
    producer.flush(10)
    assert kit.read(topic, format="str")["value"].to_list() == ["plain text"]
