"""The example notebooks run headless under papermill against the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kit

from ._parity import (
    assert_live_matches_prototypes,
    assert_service_matches_notebook,
    run_parity_test,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_quickstart_runs_headless(tmp_path: Path, connection: kit.Connection) -> None:
    """papermill's CLI, as a scheduler runs it: the kit sees it is headless by
    itself, bounds every live thing and leaves static outputs."""
    out = tmp_path / "quickstart.out.ipynb"
    env = {**os.environ, "KIT_BROKER": str(connection.address)}
    env.pop("KIT_HEADLESS", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "quickstart.ipynb"), str(out),
         "-p", "demo_rate", "200", "-p", "export_dir", str(tmp_path / "service"),
         "--cwd", str(tmp_path), "--no-progress-bar", "--execution-timeout", "180"],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 240
    text = out.read_text()
    assert "rows in →" in text  # the prototypes ran
    assert "at-least-once" in text
    outputs = {
        "".join(cell["source"]).split()[1]: json.dumps(cell.get("outputs", []))
        for cell in json.loads(text)["cells"]
        if cell["cell_type"] == "code" and "".join(cell["source"]).startswith("%stream")
    }
    assert "kit-table" in outputs["peek"]  # the peek's final table, static
    assert "widget-view+json" not in outputs["peek"]
    assert "Bokeh" in outputs["plot"] and "widget-view+json" not in outputs["plot"]
    assert (tmp_path / "service" / "main.py").is_file()
    assert (tmp_path / "service" / "test_service.py").is_file()
    # The service the notebook exported writes what its prototypes wrote (its
    # live run stopped with the kernel, mid-stream: no live comparison here).
    run_parity_test(tmp_path / "service", connection)
    assert "schema.json" in {p.name for p in (tmp_path / "service").iterdir()}


def test_per_venue_models_notebook(tmp_path: Path, connection: kit.Connection) -> None:
    """The scheduled training notebook: parameters, ≥10 models, a scoring step."""
    import uuid

    out = tmp_path / "models.out.ipynb"
    topic = f"nb-telemetry-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KIT_BROKER": str(connection.address)}
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "per_venue_models.ipynb"), str(out),
         "-p", "topic", topic, "-p", "model_dir", str(tmp_path / "registry"), "-p", "since", "-2h",
         "--cwd", str(tmp_path), "--no-progress-bar", "--execution-timeout", "180"],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    registry = kit.registry(tmp_path / "registry")
    assert registry.version == 1 and len(registry) >= 10
    text = out.read_text()
    assert "rpm_anomaly" in text and "rows in →" in text
    # The parity harness: the scoring step, exported, scores as the notebook
    # did (it finds the registry through KIT_MODEL_DIR, as deployed).
    models = {"KIT_MODEL_DIR": str(tmp_path / "registry")}
    assert_service_matches_notebook(out, tmp_path / "scoring", connection, **models)
    connection.delete_topics([topic])


def _papermill(
    notebook: str, out: Path, connection: kit.Connection, **parameters: object
) -> float:
    """Run a notebook with papermill's CLI against the session's broker; seconds."""
    env = {**os.environ, "KIT_BROKER": str(connection.address)}
    env.pop("KIT_HEADLESS", None)
    args = [
        arg for name, value in parameters.items() for arg in ("-p", name, str(value))
    ]
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / notebook), str(out),
         *args, "--cwd", str(out.parent), "--no-progress-bar", "--execution-timeout", "180"],
        capture_output=True, text=True, timeout=400, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Passed unknown parameter" not in result.stderr  # the cell parses
    return time.monotonic() - started


def _cell_outputs(out: Path, starts: str) -> str:
    cells = json.loads(out.read_text())["cells"]
    return next(
        json.dumps(cell.get("outputs", []))
        for cell in cells
        if "".join(cell["source"]).startswith(starts)
    )


def test_race_telemetry_notebook(tmp_path: Path, connection: kit.Connection) -> None:
    """Synthetic and real laps: the real feed becomes 289 lap records, and the
    live Quix window step's results equal Polars' on the same laps."""
    import uuid

    import polars as pl

    topics = {
        n: f"nb-{n}-{uuid.uuid4().hex[:8]}" for n in ("demo", "laps", "green", "pace")
    }
    out = tmp_path / "race.out.ipynb"
    seconds = _papermill(
        "race_telemetry.ipynb", out, connection,
        feed=ROOT / "notebooks" / "data" / "f1_2023_baku_sprint_TimingData.jsonStream.gz",
        demo_topic=topics["demo"], laps_topic=topics["laps"], green_topic=topics["green"],
        pace_topic=topics["pace"], demo_rate=200, replay_speed=400, live_for="2s",
    )  # fmt: skip
    assert seconds < 150
    assert "kit-table" in _cell_outputs(out, "%stream peek")
    assert "Bokeh" in _cell_outputs(out, "%stream plot")
    demo = _cell_outputs(out, "%%stream demo_pace")
    assert "demo_pace: " in demo and " 0 out" not in demo  # the demo's windows

    laps = kit.read(topics["laps"])
    assert laps.height == 289 and laps["car"].n_unique() == 19
    assert laps["pit"].sum() == 8
    fastest = laps.sort("lap_time_s").row(0, named=True)
    assert (fastest["car"], fastest["lap_time"]) == ("11", "1:43.616")
    sectors = laps.drop_nulls(["s1", "s2", "s3"])
    gap = (sectors["s1"] + sectors["s2"] + sectors["s3"] - sectors["lap_time_s"]).abs()
    assert sectors.height >= 287 and gap.max() < 0.002  # sectors add up to the lap

    green = kit.read(topics["green"], dedupe=True)
    wanted = laps.filter(~pl.col("pit") & (pl.col("lap_time_s") < 120))
    assert sorted(green.select("car", "lap").rows()) == sorted(
        wanted.select("car", "lap").rows()
    )

    expected = (
        green.with_columns(start=pl.col("_timestamp").dt.truncate("5m").dt.epoch("ms"))
        .group_by("car", "start")
        .agg(laps=pl.len(), best_s=pl.col("lap_time_s").min(), mean_s=pl.col("lap_time_s").mean(),
             partition=pl.col("_partition").first())
    )  # fmt: skip
    pace = kit.read(topics["pace"], dedupe=True)
    joined = pace.join(expected, on=["car", "start"], how="left", suffix="_polars")
    assert (
        joined["laps_polars"].null_count() == 0
    )  # every window the step emitted is real
    assert (joined["laps"] == joined["laps_polars"]).all()
    assert (joined["best_s"] == joined["best_s_polars"]).all()
    assert ((joined["mean_s"] - joined["mean_s_polars"]).abs() < 1e-9).all()
    # ... and every window whose partition's time passed its end was emitted.
    latest = green.group_by(partition="_partition").agg(
        pl.col("_timestamp").max().dt.epoch("ms")
    )
    closed = expected.join(latest, on="partition").filter(
        pl.col("start") + 300_000 < pl.col("_timestamp")
    )
    assert closed.height >= 50
    assert set(closed.select("car", "start").rows()) <= set(
        pace.select("car", "start").rows()
    )
    # The parity harness: the Polars step live equals its prototype on all the
    # laps, record for record; the exported chain passes its parity test. (The
    # pace windows close by partition: live runs on 4 partitions, so they are
    # checked against Polars per partition above.)
    compared = assert_live_matches_prototypes(out, connection, ["green_laps"])
    assert compared == {topics["green"]: green.height}
    assert_service_matches_notebook(out, tmp_path / "race-service", connection)
    connection.delete_topics(list(topics.values()))


def test_heart_monitoring_notebook(tmp_path: Path, connection: kit.Connection) -> None:
    """A real PPG recording with a simulated fast stretch: the live heart-rate
    windows equal the helper applied to Polars' windows of the same samples,
    the rate is plausible, and the alerts cover exactly the fast stretch."""
    import uuid
    from datetime import timedelta

    import numpy as np
    import polars as pl

    topics = {n: f"nb-{n}-{uuid.uuid4().hex[:8]}" for n in ("signal", "rate", "alerts")}
    out = tmp_path / "heart.out.ipynb"
    seconds = _papermill(
        "heart_monitoring.ipynb", out, connection,
        signal_topic=topics["signal"], rate_topic=topics["rate"], alerts_topic=topics["alerts"],
        replay_speed=40, minutes=2.5, live_for="2s", export_dir=tmp_path / "service",
    )  # fmt: skip
    assert seconds < 150
    assert "Bokeh" in _cell_outputs(out, "%stream plot")
    helpers = _cell_outputs(out, "%%stream helpers")  # ran, and its source:
    assert "Captured helper cell" in helpers
    source = next(
        "".join(cell["source"]).partition("\n")[2]
        for cell in json.loads(out.read_text())["cells"]
        if "".join(cell["source"]).startswith("%%stream helpers")
    )
    ns: dict[str, object] = {"np": np, "timedelta": timedelta}
    exec(source, ns)
    beats_per_minute = ns["beats_per_minute"]

    signal = kit.read(topics["signal"]).sort("_timestamp", "_offset")
    assert 17_000 < signal.height < 20_000  # 2.5 minutes as played: 3 recorded
    windows = (
        signal.group_by_dynamic("_timestamp", every="10s")
        .agg("t", "ppg")
        .with_columns(start=pl.col("_timestamp").dt.epoch("ms"))
    )
    expected = {
        row["start"]: (len(row["t"]), beats_per_minute(row["t"], row["ppg"]))
        for row in windows.iter_rows(named=True)
    }
    rates = kit.read(topics["rate"], dedupe=True).sort("start")
    assert rates["start"].to_list() == sorted(expected)[:-1]  # all but the open one
    for row in rates.iter_rows(named=True):
        assert (row["samples"], row["bpm"]) == expected[row["start"]]

    t0 = signal["_timestamp"].min().timestamp() * 1000
    fast = (t0 + 60_000, t0 + 60_000 + 90_000 / 1.6)  # the notebook's defaults
    inside = rates.filter((pl.col("start") >= fast[0]) & (pl.col("end") <= fast[1]))
    outside = rates.filter(
        ((pl.col("end") <= fast[0]) | (pl.col("start") >= fast[1]))
        & (pl.col("samples") > 900)
    )
    normal = outside["bpm"].median()
    assert 85 <= normal <= 110  # heartpy's own analysis of this recording: 97 bpm
    assert outside["bpm"].is_between(60, 125).all()
    assert inside.height >= 4
    assert (inside["bpm"] / normal).is_between(1.35, 1.85).all()  # played 1.6x faster

    alerts = kit.read(topics["alerts"], dedupe=True)
    assert set(inside["start"]) <= set(alerts["start"])  # every fast window alerted
    assert ((alerts["end"] > fast[0]) & (alerts["start"] < fast[1])).all()  # only those
    assert (alerts["alert"] == "tachycardia").all()

    service = tmp_path / "service"
    assert "def beats_per_minute" in (service / "steps.py").read_text()
    assert "numpy" in (service / "requirements.txt").read_text()
    assert (service / "test_service.py").is_file()
    # its parity sample is as large as the prototypes' (prototype_rows = 6000)
    sample = next((service / "parity").glob("input.*.jsonl")).read_text().splitlines()
    assert len(sample) == 6000
    # The parity harness: the whole chain, run on the whole signal as the
    # service runs it, wrote what the live run wrote, window for window and
    # alert for alert; the exported service passes its parity test.
    compared = assert_live_matches_prototypes(out, connection, ["bpm", "alerts"])
    assert compared[topics["rate"]] == rates.height and compared[topics["alerts"]] >= 4
    run_parity_test(service, connection)
    connection.delete_topics(list(topics.values()))
