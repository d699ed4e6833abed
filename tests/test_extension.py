"""The JupyterLab extension's own checks: TypeScript types and unit tests.

They need the extension's node_modules, which the package build installs
(``pip install -e .`` runs ``npm install`` in extensions/streamkit through
hatch-jupyter-builder). Without Node.js they are skipped, except on CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "extensions" / "streamkit"


def _require_node() -> None:
    missing = None
    if shutil.which("npx") is None:
        missing = "Node.js (npx) is not installed"
    elif not (EXT / "node_modules").is_dir():
        missing = "extensions/streamkit/node_modules is missing (run pip install -e .)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"}
    result = subprocess.run(
        command, cwd=EXT, capture_output=True, text=True, timeout=300, env=env
    )
    # Some runners colour their output on CI whatever they are told.
    result.stdout = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    result.stderr = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)
    return result


def test_typescript_types() -> None:
    _require_node()
    result = _run("npx", "tsc", "--noEmit", "-p", ".")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_typescript_unit_tests() -> None:
    _require_node()
    result = _run("npx", "vitest", "run", "--reporter=verbose")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    summary = re.search(r"Tests\s+(\d+) passed \((\d+)\)", out)
    assert summary and summary[1] == summary[2], out[-2000:]
    assert int(summary[1]) >= 20  # the tests in test/*.test.ts ran


def test_versions_agree() -> None:
    """The extension and the Python package ship together: one version."""
    from importlib.metadata import version

    python = version("jupyter-streamkit")
    npm = json.loads((EXT / "package.json").read_text())["version"]
    assert npm == python


def test_built_extension_is_installed() -> None:
    """pip install put the prebuilt extension where JupyterLab looks."""
    from jupyter_core.paths import jupyter_path

    found = [
        Path(base) / "jupyter-streamkit" / "package.json"
        for base in jupyter_path("labextensions")
        if (Path(base) / "jupyter-streamkit" / "package.json").is_file()
    ]
    assert found, "jupyter-streamkit is not in any labextensions directory"
    meta = json.loads(found[0].read_text())
    assert meta["name"] == "jupyter-streamkit"
    assert meta["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert (found[0].parent / "install.json").is_file()


@pytest.mark.slow
def test_wheel_ships_the_extension_prebuilt(tmp_path: Path) -> None:
    """``pip install`` of the wheel alone (no Node.js, no build) enables it.

    The wheel is built from this tree, then installed without its
    dependencies into a fresh venv that borrows jupyterlab from this
    interpreter, so only the wheel can put the extension in the venv's
    ``share/jupyter/labextensions``. (It borrows them through a ``.pth``
    file naming this interpreter's site-packages: ``system_site_packages``
    would reach the base interpreter's instead, which has no jupyterlab when
    the tests run in a virtualenv.)
    """
    import sys
    import sysconfig
    import venv

    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(dist), "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = dist.glob("jupyter_streamkit-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    borrowed = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (Path(site_packages) / "borrowed.pth").write_text(
        "\n".join(sorted(borrowed)) + "\n"
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    assert (
        env_dir / "share/jupyter/labextensions/jupyter-streamkit/package.json"
    ).is_file()
    listed = subprocess.run(
        [str(python), "-m", "jupyterlab.labextensions", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = (listed.stdout + listed.stderr).splitlines()
    ours = [line for line in lines if "jupyter-streamkit" in line]
    assert len(ours) == 1 and "enabled" in ours[0] and "OK" in ours[0], lines
    assert str(env_dir) in "\n".join(lines)
