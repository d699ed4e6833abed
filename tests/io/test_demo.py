"""The synthetic race telemetry: plausible physics, keyed records, a steady rate."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest

import kit
from kit.io.demo import TelemetryGenerator


def test_telemetry_is_physically_plausible() -> None:
    generator = TelemetryGenerator(cars=4, seed=11)
    records = [r for _ in range(3000) for r in generator.step(0.1)]  # 5 minutes
    assert {r["car"] for r in records} == {"1", "2", "3", "4"}
    for r in records:
        assert 0 <= r["speed"] <= 360
        assert 1 <= r["gear"] <= 8 and 4000 <= r["rpm"] <= 12500
        assert 0 <= r["throttle"] <= 1 and 0 <= r["brake"] <= 1
        assert not (r["throttle"] > 0 and r["brake"] > 0)
    car1 = [r for r in records if r["car"] == "1"]
    # Several laps of about 5 km at race pace.
    assert 2 <= car1[-1]["lap"] <= 6
    assert max(r["speed"] for r in car1) > 280 and min(r["speed"] for r in car1) < 120
    # Speed changes no faster than braking at ~3.5 g allows.
    for a, b in itertools.pairwise(car1):
        assert abs(b["speed"] - a["speed"]) / 3.6 / 0.1 < 40


def test_unknown_venue_names_the_choices() -> None:
    with pytest.raises(ValueError, match="baku, monza"):
        TelemetryGenerator(venue="nowhere")


def test_demo_producer_keeps_its_rate(
    connection: kit.Connection, topic_name: str
) -> None:
    job = kit.demo(topic_name, rate=200, duration=2.0, connection=connection)
    job.wait(10)
    assert 360 <= job.sent <= 440
    frame = kit.read(topic_name)
    assert frame.height == job.sent
    assert set(frame["_key"]) == {"1", "2", "3", "4", "5"}
    assert frame["venue"].unique().to_list() == ["baku"]
    connection.delete_topics([topic_name])


def test_cli_demo_data_with_count(connection: kit.Connection, topic_name: str) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "demo-data", "--topic", topic_name, "--rate", "500",
         "--count", "100", "--broker", str(connection.address)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Produced 100 records" in result.stdout
    assert time.monotonic() - started < 20
    assert kit.read(topic_name).height == 100
    connection.delete_topics([topic_name])
