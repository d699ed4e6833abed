"""Per-key models: training into a versioned registry, scoring in a live step."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain
from kit.chain.step import CellStep


def fit_rpm(rows: pl.DataFrame) -> tuple[list[float], dict[str, float]]:
    """rpm ~ speed, a line per key; the model is its two coefficients."""
    slope, intercept = np.polyfit(rows["speed"].to_numpy(), rows["rpm"].to_numpy(), 1)
    predicted = slope * rows["speed"].to_numpy() + intercept
    rmse = float(np.sqrt(np.mean((predicted - rows["rpm"].to_numpy()) ** 2)))
    return [float(slope), float(intercept)], {"rmse": rmse}


@pytest.fixture(scope="module")
def telemetry() -> pl.DataFrame:
    """Five minutes of demo driving at each venue (5 cars, 10 Hz)."""
    from kit.io.demo import TelemetryGenerator

    rows = []
    for venue in ("baku", "monza"):
        generator = TelemetryGenerator(cars=5, venue=venue, seed=3)
        for _ in range(3000):
            rows.extend(generator.step(0.1))
    return pl.DataFrame(rows).with_columns(
        _timestamp=pl.from_epoch("ts", time_unit="ms")
    )


def test_one_model_per_key_in_a_versioned_registry(
    telemetry: pl.DataFrame, tmp_path: Path
) -> None:
    root = tmp_path / "rpm"
    first = kit.train_per_key(
        telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
    )
    assert first.version == 1 and len(first) >= 10
    manifest = json.loads((root / "v1" / "manifest.json").read_text())
    assert (
        manifest["key"] == ["venue", "gear"]
        and manifest["data_window"]["rows"] == telemetry.height
    )
    assert {m["key"][0] for m in manifest["models"]} == {"baku", "monza"}
    assert all(
        m["metrics"]["rmse"] >= 0 and m["rows"] >= 10 for m in manifest["models"]
    )
    second = kit.train_per_key(
        telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
    )
    assert second.version == 2 and (root / "LATEST").read_text() == "2"
    assert (root / "v1" / "manifest.json").exists()  # old versions stay


def test_small_groups_are_skipped_and_listed(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "k": ["a"] * 20 + ["b"] * 3,
            "speed": [float(i) for i in range(23)],
            "rpm": [float(i) for i in range(23)],
        }
    )
    reg = kit.train_per_key(
        frame, key="k", fit=fit_rpm, registry=tmp_path / "r", progress=False
    )
    assert len(reg) == 1 and reg.manifest["skipped"] == [["b"]]
    with pytest.raises(kit.KitError, match="key column\\(s\\) venue not in the frame"):
        kit.train_per_key(frame, key="venue", fit=fit_rpm, registry=tmp_path / "r")


def test_score_uses_each_keys_model_and_reloads_new_versions(
    telemetry: pl.DataFrame, tmp_path: Path
) -> None:
    root = tmp_path / "rpm"
    kit.train_per_key(
        telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
    )
    models = kit.registry(root, check_every=0)

    def predict(model: Any, rows: pl.DataFrame) -> Any:
        return model[0] * rows["speed"].to_numpy() + model[1]

    scored = models.score(telemetry, predict=predict, output="rpm_expected")
    assert scored["model_version"].unique().to_list() == [1]
    error = (scored["rpm_expected"] - scored["rpm"]).abs().mean()
    assert (
        error is not None and error < 1500
    )  # a line per venue and gear fits rpm closely
    kit.train_per_key(
        telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
    )
    assert (
        models.score(telemetry.head(5), predict=predict)["model_version"].to_list()
        == [2] * 5
    )


@pytest.mark.slow
def test_a_live_step_scores_with_the_registry(
    telemetry: pl.DataFrame, tmp_path: Path, connection: kit.Connection
) -> None:
    root = tmp_path / "rpm"
    kit.train_per_key(
        telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
    )
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"sc-in-{suffix}", f"sc-out-{suffix}", f"score-{suffix}"
    chain = Chain()
    chain.add_imports_from(["from kit.runtime.models import registry"])
    chain.add_helpers(
        "models",
        f"MODEL_DIR = {str(root)!r}\n\ndef predict(model, rows):\n    return model[0] * rows['speed'].to_numpy() + model[1]",
    )
    chain.add_step(
        CellStep(
            "scored",
            "polars",
            source,
            sink,
            "registry(MODEL_DIR, check_every=0.5).score(df, predict=predict, output='rpm_expected')",
        )
    )
    connection.create_topic(source, partitions=1)
    folder = export_chain(chain, tmp_path / "svc", name=name, topics=[source])
    assert (
        "from kit_runtime.models import registry" in (folder / "steps.py").read_text()
    )
    service = process.start_service(folder, name=name, connection=connection)
    try:
        process.wait_running(service)
        kit.demo(source, rate=500, count=200, connection=connection).wait(30)
        deadline = time.monotonic() + 30
        while (
            next((t.messages for t in connection.topics() if t.name == sink), 0) < 200
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        out = kit.read(sink, dedupe=True)
        assert out["rpm_expected"].null_count() < out.height and set(
            out["model_version"]
        ) == {1}
        # Retrain while it runs: new records are scored with version 2, no restart.
        kit.train_per_key(
            telemetry, key=["venue", "gear"], fit=fit_rpm, registry=root, progress=False
        )
        time.sleep(1.5)
        kit.demo(source, rate=500, count=100, connection=connection).wait(30)
        deadline = time.monotonic() + 30
        while 2 not in set(kit.read(sink)["model_version"]):
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        process.stop_service(name)
    connection.delete_topics([source, sink])
