"""kit.replay: files and frames into a topic, with their timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import kit
from kit import KitError

START = 1_700_000_000_000


def _recording(rows: int = 201, step_ms: int = 100) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [START + i * step_ms for i in range(rows)],
            "car": [str(i % 3) for i in range(rows)],
            "speed": [200.0 + i for i in range(rows)],
        }
    )


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_speed_10_keeps_the_timing(tmp_path: Path, topic: str, suffix: str) -> None:
    """20 s of recorded data at 10x lands in 2 s (within 10%)."""
    frame = _recording()
    path = tmp_path / f"laps.{suffix}"
    {
        "jsonl": frame.write_ndjson,
        "csv": frame.write_csv,
        "parquet": frame.write_parquet,
    }[suffix](path)
    job = kit.replay(path, topic, speed=10, key="car", progress=False)
    assert job.duration == pytest.approx(2.0)
    assert job.wait(30)
    assert job.sent == 201
    took = job.last_sent - job.first_sent  # type: ignore[operator]
    assert abs(took - 2.0) <= 0.2, f"took {took:.3f} s"
    out = kit.read(topic)
    assert out["speed"].to_list() == frame["speed"].to_list()
    assert out["_key"].to_list() == frame["car"].to_list()
    gaps = out["_timestamp"].dt.epoch("ms").diff().drop_nulls()
    assert gaps.min() >= 9 and gaps.max() <= 11  # 100 ms recorded / 10


def test_fast_replay_of_a_frame_and_original_timestamps(topic: str) -> None:
    job = kit.replay(
        _recording(2000, 1000), topic, speed=None, keep_timestamps=True, progress=False
    )
    started = time.monotonic()
    job.wait(30)
    assert time.monotonic() - started < 10
    out = kit.read(topic)
    assert out.height == 2000
    assert out["_timestamp"].dt.epoch("ms").to_list() == [
        START + i * 1000 for i in range(2000)
    ]


def test_replaying_a_read_frame_keeps_keys(
    connection: kit.Connection, topic: str, tmp_path: Path
) -> None:
    kit.replay(_recording(20), topic, speed=None, key="car", progress=False).wait(30)
    frame = kit.read(topic)
    copy = topic + "-copy"
    kit.replay(frame, copy, speed=None, progress=False).wait(30)
    again = kit.read(copy)
    assert again["_key"].to_list() == frame["_key"].to_list()
    assert [c for c in again.columns if not c.startswith("_")] == ["ts", "car", "speed"]
    connection.delete_topics([copy])


def test_a_frame_of_keys_only_and_no_bar_when_headless(
    topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with no value columns replay as empty objects; headless, the
    background progress bar is off (it would land in another cell)."""
    monkeypatch.setenv("KIT_HEADLESS", "1")
    job = kit.replay(pl.DataFrame({"_key": ["a", "b"]}), topic, speed=None)
    assert job.wait(30) and not job.progress
    assert kit.read(topic, format="str")["value"].to_list() == ["{}", "{}"]
    monkeypatch.setenv("KIT_HEADLESS", "0")
    job = kit.replay(pl.DataFrame({"_key": ["c"]}), topic, speed=None)
    assert job.wait(30) and job.progress


def test_stop_ends_a_replay_early(topic: str) -> None:
    job = kit.replay(_recording(100, 1000), topic, speed=1, progress=False)
    time.sleep(1.5)
    job.stop()
    assert not job.running
    assert 1 <= job.sent < 10


def test_errors_name_the_fix(tmp_path: Path, topic: str) -> None:
    frame = pl.DataFrame({"speed": [1.0, 2.0]})
    with pytest.raises(KitError, match=r"No time column .* speed=None"):
        kit.replay(frame, topic)
    with pytest.raises(KitError, match=r"key='driver' is not a column"):
        kit.replay(frame, topic, speed=None, key="driver")
    with pytest.raises(KitError, match=r"No file at"):
        kit.replay(tmp_path / "missing.csv", topic)
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(KitError, match=r"use one of \.jsonl"):
        kit.replay(tmp_path / "data.xlsx", topic)


def test_cli_replay(tmp_path: Path, connection: kit.Connection, topic: str) -> None:
    path = tmp_path / "laps.jsonl"
    path.write_text("\n".join(json.dumps({"ts": START + i, "v": i}) for i in range(50)))
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "replay", str(path), topic, "--fast", "--broker", str(connection.address)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Replayed 50 records" in result.stdout
    assert sorted(kit.read(topic)["v"].to_list()) == list(range(50))


def test_a_relative_milliseconds_column_replays_at_its_pace(
    connection: kit.Connection, topic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``session_ms`` (up to 7e6) is milliseconds, not seconds: at speed 100,
    two seconds of session take 20 ms, and the replay says so."""
    frame = pl.DataFrame({"session_ms": [0, 1000, 2000], "v": [1, 2, 3]})
    job = kit.replay(frame, topic, speed=100, timestamp="session_ms", progress=False)
    out = capsys.readouterr().out
    assert "by 'session_ms' (milliseconds), in about 0.0 s at speed 100" in out
    assert job.duration == pytest.approx(0.02)
    assert job.wait(10)
    seconds = kit.replay(frame.rename({"session_ms": "t"}), topic, speed=1, timestamp="t",
                         timestamp_unit="s", progress=False)  # fmt: skip
    assert seconds.duration == pytest.approx(2000.0) and seconds.unit == "s"
    seconds.stop()
    with pytest.raises(kit.KitError, match="timestamp_unit='min' is not a unit"):
        kit.replay(frame, topic, timestamp="session_ms", timestamp_unit="min")  # type: ignore[arg-type]


def test_keeping_relative_times_is_refused_with_the_fix(topic: str) -> None:
    frame = pl.DataFrame({"session_ms": [0, 100, 200], "v": [1, 2, 3]})
    with pytest.raises(
        KitError, match=r"its times are relative .* drop keep_timestamps"
    ):
        kit.replay(frame, topic, timestamp="session_ms", keep_timestamps=True)


def test_replaying_a_read_frame_writes_the_records_own_shape(
    connection: kit.Connection, topic: str, topic_name: str
) -> None:
    """Nested, sparse records read with kit.read (flattened, nulls where a
    field was absent) and replayed come out nested and sparse again."""
    from tests.conftest import produce_json

    records = [
        {"_key": f"m{i % 3}", "machine": f"m{i % 3}", "sensors": {"temp_c": 20.5 + i}}
        | ({"load": i / 10} if i % 2 else {})
        | ({"sensors": {"temp_c": 20.5 + i, "rpm": 900 + i}} if i % 3 == 0 else {})
        for i in range(12)
    ]
    produce_json(connection, topic, records)
    copy = f"{topic_name}-copy"
    connection.create_topic(copy, partitions=2)
    try:
        frame = kit.read(topic, connection=connection, progress=False)
        assert "sensors.temp_c" in frame.columns and frame["load"].null_count() == 6
        kit.replay(frame, copy, speed=None, progress=False, connection=connection).wait(
            30
        )
        consumer = connection.consumer(f"g-{copy}", auto_offset_reset="earliest")
        consumer.subscribe([copy])
        got: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while len(got) < len(records) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append(json.loads(message.value()))
        consumer.close()
        want = [{k: v for k, v in r.items() if k != "_key"} for r in records]
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        assert sorted(map(key, got)) == sorted(map(key, want))
    finally:
        connection.delete_topics([copy])


def test_a_bad_line_in_a_json_lines_file_is_named(tmp_path: Path, topic: str) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_text('{"machine": "m1", "v": 1}\nnot json\n{"machine": "m2", "v": 2}\n')
    with pytest.raises(KitError, match=r"junk.jsonl.*line 2 is not JSON"):
        kit.replay(path, topic, speed=None, progress=False)
    path.write_text('{"machine": "m1", "v": 1}\n[1, 2]\n')
    with pytest.raises(KitError, match=r"line 2 is not a JSON object but list"):
        kit.replay(path, topic, speed=None, progress=False)


@pytest.mark.parametrize("suffix", ["jsonl", "json", "jsonl.gz"])
def test_a_json_file_is_replayed_record_for_record_as_it_is(
    tmp_path: Path, topic: str, suffix: str
) -> None:
    """Type drift in a file stays where it is: a number sent as text by one
    machine stays a number for the others (a frame would turn the whole
    column into text), and a field that is an object here and a number there
    still replays. kit.read then counts exactly the drifted records as bad."""
    import gzip

    records = [
        {"ts": START + i * 10, "machine": f"m{i % 3}", "sensors": {"temp_c": 20.5 + i}}
        for i in range(30)
    ]
    for i in (4, 7, 10):  # m1 sends text for a while
        records[i]["sensors"] = {"temp_c": f"{20.5 + i}"}
    records[29]["sensors"] = 3  # an object elsewhere, a number here
    lines = [json.dumps(r) for r in records]
    path = tmp_path / f"drift.{suffix}"
    text = "[" + ",".join(lines) + "]" if suffix == "json" else "\n".join(lines) + "\n"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    kit.replay(path, topic, speed=None, key="machine", progress=False).wait(30)
    raw = kit.read(topic, format="str", progress=False)
    got = sorted(json.dumps(json.loads(v), sort_keys=True) for v in raw["value"])
    assert got == sorted(json.dumps(r, sort_keys=True) for r in records)
    assert set(raw["_key"]) == {"m0", "m1", "m2"}
    frame = kit.read(topic, errors="collect", progress=False)
    assert frame.schema["sensors.temp_c"] == pl.Float64
    assert frame["_error"].is_not_null().sum() == 4
