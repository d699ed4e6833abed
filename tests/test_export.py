"""Export a notebook's chain to a service folder; run it with `kit run`."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import kit


def _notebook(path: Path, source: str, laps: str, fast: str) -> None:
    cells = [
        "import polars as pl\nfrom datetime import timedelta\n%load_ext kit",
        "%%stream helpers\nMIN_GEAR = 4\n\ndef to_ms(column):\n    return pl.col(column) / 3.6",
        f"%%stream fast --input {source} --output {fast}\n"
        'df.filter(pl.col("gear") >= MIN_GEAR).with_columns(speed_ms=to_ms("speed"))',
        f"%%stream laps --input fast --output {laps} --quix\n"
        'sdf = sdf.group_by("car").tumbling_window(timedelta(milliseconds=500)).count().final()',
    ]
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "source": c,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))


def _kit(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kit.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )  # type: ignore[call-overload,no-any-return]


def test_export_writes_a_consistent_service(tmp_path: Path) -> None:
    nb = tmp_path / "chain.ipynb"
    _notebook(nb, "telemetry", "laps-out", "fast-out")
    result = _kit(
        "export",
        str(nb),
        str(tmp_path / "svc"),
        "--name",
        "laps-service",
        "--no-parity",
    )
    assert result.returncode == 0, result.stderr
    svc = tmp_path / "svc"
    for name in (
        "main.py",
        "steps.py",
        "requirements.txt",
        "dockerfile",
        "app.yaml",
        ".env.example",
    ):
        assert (svc / name).is_file(), name
    assert (svc / "kit_runtime" / "service.py").is_file()
    steps = (svc / "steps.py").read_text()
    ast.parse(steps)
    assert "from datetime import timedelta" in steps and "MIN_GEAR = 4" in steps
    assert "# --- %%stream fast --input telemetry --output fast-out ---" in steps
    # No literal broker addresses or credentials in the code.
    assert "9092" not in steps + (svc / "main.py").read_text()
    requirements = (svc / "requirements.txt").read_text()
    for dist in ("quixstreams==", "polars==", "confluent-kafka=="):
        assert dist in requirements
    assert "jupyter" not in requirements.lower() and "bokeh" not in requirements.lower()
    # dockerfile and app.yaml agree with main.py (docker build is not available here).
    dockerfile = (svc / "dockerfile").read_text()
    assert (
        'ENTRYPOINT ["python", "main.py"]' in dockerfile
        and "requirements.txt" in dockerfile
    )
    app_yaml = (svc / "app.yaml").read_text()
    assert "runEntryPoint: main.py" in app_yaml and "dockerfile: dockerfile" in app_yaml
    used = set(__import__("re").findall(r"topic\('(TOPIC_[A-Z0-9_]+)'", steps))
    declared = set(__import__("re").findall(r"name: (TOPIC_[A-Z0-9_]+)", app_yaml))
    assert used and used == declared
    assert "inputType: InputTopic" in app_yaml and "inputType: OutputTopic" in app_yaml
    # The runtime it ships imports nothing of the kit or Jupyter.
    for path in (svc / "kit_runtime").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            banned = ("kit", "IPython", "ipywidgets", "bokeh", "jupyter")
            assert not any(n.startswith(banned) for n in names), (path.name, names)


def test_export_refuses_hidden_state(tmp_path: Path) -> None:
    nb = tmp_path / "bad.ipynb"
    cells = [
        "threshold = 3",
        "%%stream s --input telemetry\ndf.filter(pl.col('x') > threshold)",
    ]
    nb.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "source": c, "metadata": {}} for c in cells
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    result = _kit("export", str(nb), str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Step 's' uses threshold, defined in no captured cell" in result.stderr


@pytest.mark.slow
def test_kit_run_status_stop(tmp_path: Path, connection: kit.Connection) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, fast, laps = f"ex-in-{suffix}", f"ex-fast-{suffix}", f"ex-laps-{suffix}"
    kit.demo(source, rate=2000, count=2000, connection=connection).wait(30)
    connection.create_topic(fast, partitions=2)
    connection.create_topic(laps, partitions=2)
    nb = tmp_path / "chain.ipynb"
    _notebook(nb, source, laps, fast)
    exported = _kit(
        "export", str(nb), str(tmp_path / "svc"), "--pipeline", "--replicas", "2"
    )
    assert exported.returncode == 0, exported.stderr
    assert "replicas: 2" in (tmp_path / "svc" / "quix.yaml").read_text()
    assert "partition count bounds" in (
        tmp_path / "svc" / "README.md"
    ).read_text().replace("\n", " ")
    # The parity test generated at export passes against the real broker.
    env = {**os.environ, "KIT_BROKER": str(connection.address), "KIT_PROFILE": "local"}
    parity = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_service.py"],
        cwd=tmp_path / "svc", capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert parity.returncode == 0, parity.stdout[-3000:] + parity.stderr[-2000:]
    assert "1 passed" in parity.stdout
    env = {**os.environ, "KIT_BROKER": str(connection.address)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "kit.cli", "run", str(tmp_path / "svc"), "--every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(t.name == laps and t.messages > 0 for t in connection.topics()):
            assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.5)
        status = _kit("status")
        assert (
            "svc" in status.stdout
            and "fast" in status.stdout
            and "at-least-once" in status.stdout
        )
    finally:
        # SIGTERM (a supervisor's stop) stops the service with it, like Ctrl-C.
        runner.send_signal(signal.SIGTERM)
        out, err = runner.communicate(timeout=60)
    assert "Running 'svc'" in out and "Stopped 'svc'" in out, err
    assert "No service is running." in _kit("status").stdout
    fast_rows = kit.read(fast, dedupe=True)
    source_rows = kit.read(source)
    assert fast_rows.height == source_rows.filter(source_rows["gear"] >= 4).height
    assert (fast_rows["speed_ms"] - fast_rows["speed"] / 3.6).abs().max() < 1e-9
    connection.delete_topics([source, fast, laps])


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_chain_exports_and_passes_its_parity_test(
    tmp_path: Path, connection: kit.Connection
) -> None:
    """notebooks/quickstart.ipynb (a Polars step and a Quix window step)."""
    kit.demo("telemetry", rate=400, count=2000, connection=connection).wait(60)
    env = {**os.environ, "KIT_BROKER": str(connection.address)}
    exported = subprocess.run(
        [sys.executable, "-m", "kit.cli", "export", str(ROOT / "notebooks" / "quickstart.ipynb"), str(tmp_path / "qs")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    expected = (
        (tmp_path / "qs" / "parity" / "expected.TOPIC_PER_CAR.jsonl")
        .read_text()
        .splitlines()
    )
    assert expected, "the window step's prototype closed no window"
    parity = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_service.py"],
        cwd=tmp_path / "qs", capture_output=True, text=True, timeout=300,
        env={**env, "KIT_PROFILE": "local"},
    )  # fmt: skip
    assert parity.returncode == 0, parity.stdout[-3000:] + parity.stderr[-2000:]


def test_a_notebook_without_steps_is_refused(tmp_path: Path) -> None:
    """Exporting nothing is a mistake to explain, not an empty service."""
    import nbformat

    from kit._errors import KitError
    from kit._export import export_chain
    from kit.chain.capture import chain_from_notebook

    notebook = tmp_path / "plain.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("%stream peek t"),
    ]
    nbformat.write(nb, notebook)
    with pytest.raises(
        KitError, match=r"plain\.ipynb has no %%stream steps: nothing to export"
    ):
        export_chain(
            chain_from_notebook(notebook),
            tmp_path / "out",
            name="out",
            source="plain.ipynb",
        )
    assert not (tmp_path / "out").exists()
