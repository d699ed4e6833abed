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
    connection.delete_topics([topic])
