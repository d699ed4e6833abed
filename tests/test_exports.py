"""The public API: complete, lazy, and the runtime stands alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import kit


def test_every_exported_name_resolves() -> None:
    for name in kit.__all__:
        assert getattr(kit, name) is not None, name


def test_all_lists_exactly_the_lazy_api() -> None:
    assert set(kit.__all__) == set(kit._LAZY) | {"__version__"}


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="nonexistent"):
        kit.nonexistent  # noqa: B018


def test_import_kit_is_light() -> None:
    code = (
        "import sys, kit; heavy = [m for m in ('quixstreams', 'confluent_kafka', "
        "'polars', 'bokeh', 'ipywidgets') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_runtime_imports_nothing_from_jupyter_or_the_rest_of_the_kit() -> None:
    """kit.runtime is copied into exported services: it must stand alone."""
    root = Path(kit.__file__).parent / "runtime"
    banned = ("IPython", "ipywidgets", "bokeh", "jupyter", "papermill", "kit")
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                # Relative imports may only stay inside kit/runtime itself.
                assert node.level <= 1, f"{path.name} reaches outside kit.runtime"
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                assert not name.startswith(banned), f"{path.name} imports {name}"
