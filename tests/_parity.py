"""The parity harness the notebook tests share: what the notebook's steps make
of their input (run as the service runs them, :func:`kit._parity.record_samples`)
is what the live run wrote, and what the exported service writes.

* :func:`assert_live_matches_prototypes`: the steps run on their whole input
  topics equal the live run's outputs (read back, de-duplicated by identity),
  record for record, and its dead letters;
* :func:`assert_service_matches_notebook`: ``kit export`` of the notebook (a
  fresh sample of its topics) and the generated parity test, run as the
  service's README says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import kit
from kit._parity import record_samples
from kit.chain.capture import chain_from_notebook


def _canonical(value: bytes | str) -> str:
    return json.dumps(json.loads(value), sort_keys=True)


def _written(conn: kit.Connection, topic: str) -> Counter[str]:
    frame = kit.read(
        topic, format="bytes", dedupe=True, connection=conn, progress=False, idle=1.0
    )
    return Counter(_canonical(v) for v in frame["value"].to_list())


def assert_live_matches_prototypes(
    notebook: Path, conn: kit.Connection, steps: list[str]
) -> dict[str, int]:
    """``steps`` (and the steps they read) of ``notebook``'s chain, run on
    the whole of their input topics, wrote exactly what the live run wrote.
    Returns the records compared per output topic."""
    chain = chain_from_notebook(notebook)
    ordered = chain.ordered(steps)
    inputs = {chain.topic_of(s.input) for s in ordered if s.input not in chain.steps}
    counts = {t.name: t.messages for t in conn.topics()}
    rows = max(counts[t] for t in inputs)
    samples = record_samples(chain, ordered, connection=conn, rows=rows)
    compared = {}
    for step in ordered:
        if step.name not in steps:
            continue
        topic = chain.output_topic(step)
        expected = Counter(_canonical(v) for v in samples.outputs[topic])
        got = _written(conn, topic)
        missing, extra = expected - got, got - expected
        assert not missing and not extra, (
            f"{step.name}: live and prototype differ on {topic}: "
            f"{sum(missing.values())} missing, e.g. {list(missing)[:2]}; "
            f"{sum(extra.values())} extra, e.g. {list(extra)[:2]}"
        )
        compared[topic] = sum(expected.values())
    return compared


def assert_service_matches_notebook(
    notebook: Path, outdir: Path, conn: kit.Connection, **env: str
) -> Path:
    """``kit export NOTEBOOK OUTDIR`` and the service's own parity test."""
    base = {**os.environ, "KIT_BROKER": str(conn.address), **env}
    export = subprocess.run(
        [sys.executable, "-m", "kit.cli", "export", str(notebook), str(outdir)],
        capture_output=True, text=True, timeout=300, env=base,
    )  # fmt: skip
    assert export.returncode == 0, export.stdout + export.stderr
    assert "No parity test" not in export.stderr, export.stderr
    return run_parity_test(outdir, conn, **env)


def run_parity_test(outdir: Path, conn: kit.Connection, **env: str) -> Path:
    """The service's generated parity test (``env``: what its steps read)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_service.py"],
        cwd=outdir, capture_output=True, text=True, timeout=600,
        env={**os.environ, "KIT_BROKER": str(conn.address), "KIT_PROFILE": "local", **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout, result.stdout[-2000:]
    return outdir


def expected_files(outdir: Path) -> dict[str, Any]:
    """What the parity sample holds: records per file of ``parity/``."""
    return {
        p.name: len(p.read_text().splitlines())
        for p in sorted((outdir / "parity").glob("*.jsonl"))
    }
