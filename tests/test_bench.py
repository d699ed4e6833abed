"""The benchmarks run (short mode) and report sane numbers; timings are not
asserted here (see bench/ and the README for measured figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kit

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "script", ["bench_peek.py", "bench_chain.py", "bench_quix_state.py"]
)
def test_benchmark_short_mode(script: str, connection: kit.Connection) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--short"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "KIT_BROKER": str(connection.address)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    rates = [v for k, v in figures.items() if k.endswith("msg_per_s")]
    assert rates and all(r > 0 for r in rates), figures


def test_resilience_short_mode_loses_and_duplicates_nothing(
    connection: kit.Connection,
) -> None:
    """4 SIGKILL + restart cycles of an exported service on 40,000 records."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_resilience.py"), "--short"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KIT_BROKER": str(connection.address)},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, (figures, result.stderr[-3000:])
    assert figures["lost"] == 0 and figures["duplicated_after_dedupe"] == 0
    assert figures["per_key_equal"] is True
