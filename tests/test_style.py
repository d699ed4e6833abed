"""The code is ruff-clean, ruff-formatted and mypy-clean (the public API is typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "kit", "tests"],
        ["ruff", "format", "--check", "kit", "tests"],
        ["mypy"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_and_functions_stay_small() -> None:
    """One job per module and per function: no module over 400 lines, no
    function over 80 (split what grows past them; see docs/architecture.md)."""
    import ast

    too_big = []
    for path in sorted((ROOT / "kit").rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(ROOT)
        if text.count("\n") > 400:
            too_big.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 80:
                    too_big.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert not too_big, "\n".join(too_big)
