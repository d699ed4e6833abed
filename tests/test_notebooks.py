"""The example notebooks run headless under papermill against the real broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kit

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def test_quickstart_runs_headless(
    tmp_path: Path, connection: kit.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    monkeypatch.setenv("KIT_BROKER", str(connection.address))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "quickstart.out.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "quickstart.ipynb"),
        str(out),
        parameters={"demo_rate": 200, "export_dir": str(tmp_path / "service")},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        execution_timeout=180,
    )
    text = out.read_text()
    assert "rows in →" in text  # the prototypes ran
    assert "at-least-once" in text
    assert (tmp_path / "service" / "main.py").is_file()
    assert os.environ["KIT_BROKER"] == str(connection.address)
