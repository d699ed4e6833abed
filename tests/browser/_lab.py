"""Helpers for real-browser JupyterLab tests.

The fixtures live in ``tests/browser/conftest.py``; these are the plain
functions a test calls::

    from tests.browser._lab import open_notebook, run_all, screenshot, write_notebook

    def test_x(lab, page):
        name = write_notebook(lab.root_dir, "x.ipynb", ["print('hi')"])
        panel = open_notebook(page, lab, name)
        assert run_all(page)
        expect(panel.get_by_text("hi")).to_be_visible()
        screenshot(page, "x")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import nbformat

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Debian's Chromium; never ``playwright install`` (it downloads a browser).
CHROMIUM = Path(os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

LAB_START_TIMEOUT = 60.0  # seconds; JupyterLab is ready in ~7 s
NOTEBOOK_OPEN_TIMEOUT = 60.0  # seconds: page load + kernel start on 2 cores
RUN_ALL_TIMEOUT = 60.0  # seconds

# Console errors that say nothing about the notebook under test: a browser
# logs a failed favicon fetch (a 404 for a resource the page merely probes
# for) as a console error. None were seen with JupyterLab 4.6 and Chromium 156,
# but favicon handling differs across versions. Other 404s are kept: a missing
# widget or extension bundle is a real failure.
_NOISE = (re.compile(r"favicon", re.I),)


def artifacts_dir() -> Path:
    """Where screenshots and the server log go (created on demand).

    ``$KIT_TEST_ARTIFACTS`` if set, else ``tests/browser/artifacts`` in the repo
    (git-ignored).
    """
    env = os.environ.get("KIT_TEST_ARTIFACTS")
    path = Path(env) if env else REPO_ROOT / "tests" / "browser" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "shot"


# --------------------------------------------------------------------------
# The JupyterLab server
# --------------------------------------------------------------------------


@dataclass
class Lab:
    """A running ``jupyter lab`` subprocess."""

    url: str  # e.g. http://127.0.0.1:41234 (no trailing slash)
    token: str
    root_dir: Path  # notebooks are written here; /lab/tree/<name> is relative
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _log: IO[bytes] = field(repr=False)

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        """Call the server's REST API (``path`` like ``/api/kernels``)."""
        sep = "&" if "?" in path else "?"
        request = urllib.request.Request(
            f"{self.url}{path}{sep}token={self.token}", method=method
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernels(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("GET", "/api/kernels")
        return result

    def shutdown_kernels(self) -> None:
        """Delete every kernel: threads in a kernel outlive the page."""
        for kernel in self.kernels():
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30.0)
            except urllib.error.HTTPError as exc:
                if exc.code != 404:  # already gone
                    raise


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_lab_settings(config_dir: Path) -> None:
    """User settings for the isolated config dir: no news/update toasts.

    The "fetch official Jupyter news?" toast would cover part of every
    screenshot, and the update check makes the server query PyPI.
    """
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    notification = settings / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_lab(
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = LAB_START_TIMEOUT,
) -> Lab:
    """Start ``jupyter lab`` with its root, config and runtime dirs in base_dir.

    The config and runtime dirs are private, so neither the developer's
    ``~/.jupyter`` settings nor their workspaces leak into (or get written by)
    the test. The server log goes to ``artifacts_dir()/jupyter-lab.log``.
    """
    root_dir = base_dir / "root"
    config_dir = base_dir / "config"
    runtime_dir = base_dir / "runtime"
    for path in (root_dir, config_dir, runtime_dir):
        path.mkdir(parents=True, exist_ok=True)
    _write_lab_settings(config_dir)

    token = uuid.uuid4().hex
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc_env = dict(os.environ if env is None else env)
    proc_env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    proc_env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    proc_env.setdefault("PYTHONUNBUFFERED", "1")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.token={token}",
        "--port",
        str(port),
        "--ServerApp.port_retries=0",
        "--ip",
        "127.0.0.1",
        "--allow-root",
        "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root_dir}",
    ]
    log_path = artifacts_dir() / "jupyter-lab.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=root_dir,
        env=proc_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    lab = Lab(
        url=url,
        token=token,
        root_dir=root_dir,
        log_path=log_path,
        process=process,
        _log=log,
    )
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            stop_lab(lab)
            raise RuntimeError(
                f"jupyter lab exited with {process.returncode}:\n{_log_tail(log_path)}"
            )
        try:
            lab.api("GET", "/api/status", timeout=2.0)
            return lab
        except (OSError, ValueError):  # URLError is an OSError
            pass
        if time.monotonic() > deadline:
            stop_lab(lab)
            raise RuntimeError(
                f"jupyter lab did not answer at {url} within {timeout:.0f} s:\n"
                f"{_log_tail(log_path)}"
            )
        time.sleep(0.25)


def stop_lab(lab: Lab) -> None:
    """Delete all kernels (best effort), then SIGTERM the server, then kill."""
    try:
        if lab.process.poll() is None:
            with contextlib.suppress(OSError):  # the server goes away anyway
                lab.shutdown_kernels()
            lab.process.send_signal(signal.SIGTERM)
            try:
                lab.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                lab.process.kill()
                lab.process.wait(timeout=15)
        else:
            lab.process.wait()
    finally:
        lab._log.close()


# --------------------------------------------------------------------------
# Notebooks and the page
# --------------------------------------------------------------------------


def write_notebook(root_dir: Path, name: str, cells: Iterable[str]) -> str:
    """Write a notebook of code cells (Python 3 kernel); returns its lab path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = root_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return Path(name).as_posix()


_OPEN_NOTEBOOK_JS = """
async ([path, timeoutMs]) => {
  const app = window.jupyterapp;
  await app.restored;
  const deadline = Date.now() + timeoutMs;
  const widget = await app.commands.execute(
    'docmanager:open', { path, factory: 'Notebook' });
  await widget.context.ready;
  await widget.sessionContext.ready;
  app.shell.activateById(widget.id);
  for (;;) {
    const kernel = widget.sessionContext.session?.kernel;
    if (kernel && kernel.status === 'idle') break;
    if (Date.now() > deadline) {
      throw new Error(`kernel not idle: ${kernel ? kernel.status : 'no kernel'}`);
    }
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  return widget.id;
}
"""


def open_notebook(
    page: Page, lab: Lab, name: str, timeout: float = NOTEBOOK_OPEN_TIMEOUT
) -> Locator:
    """Open notebook ``name`` (relative to lab.root_dir) in a fresh workspace.

    Waits until its kernel is idle and the panel is visible; returns a locator
    for the notebook panel (scope text lookups to it).
    """
    workspace = f"test-{uuid.uuid4().hex[:10]}"
    # A fresh, reset workspace: a restored layout cannot steal focus.
    page.goto(
        f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}",
        timeout=timeout * 1000,
    )
    page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
    widget_id: str = page.evaluate(_OPEN_NOTEBOOK_JS, [name, timeout * 1000])
    panel = page.locator(f"[id='{widget_id}']")
    panel.locator(".jp-Notebook").wait_for(state="visible", timeout=timeout * 1000)
    return panel


_RUN_ALL_JS = """
async (timeoutMs) => {
  const run = window.jupyterapp.commands.execute('notebook:run-all-cells');
  const timeout = new Promise((_, reject) => setTimeout(
    () => reject(new Error(`run-all-cells took over ${timeoutMs} ms`)), timeoutMs));
  return Boolean(await Promise.race([run, timeout]));
}
"""


def run_all(page: Page, timeout: float = RUN_ALL_TIMEOUT) -> bool:
    """Run all cells of the current notebook; True if every cell succeeded.

    Returns when the last cell has finished executing (background threads or
    tasks the cells start keep running).
    """
    result: bool = page.evaluate(_RUN_ALL_JS, timeout * 1000)
    return result


def screenshot(page: Page, name: str) -> Path:
    """Save a PNG of the viewport as ``artifacts_dir()/<name>.png``."""
    stem = _slug(name.removesuffix(".png"))
    path = artifacts_dir() / f"{stem}.png"
    page.screenshot(path=str(path))
    return path


def console_errors(page: Page) -> list[str]:
    """The console errors the ``page`` fixture collected, noise filtered out."""
    collected: list[str] = getattr(page, "console_errors", [])
    return [e for e in collected if not any(p.search(e) for p in _NOISE)]


def chromium_available() -> str | None:
    """None if playwright and Chromium are there, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not (CHROMIUM.exists() or shutil.which(str(CHROMIUM))):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


# --------------------------------------------------------------------------
# `kit demo` as a subprocess (tests/test_demo.py, tests/browser/test_demo.py)
# --------------------------------------------------------------------------

#: The notebook URL ``kit demo`` prints (with its token).
DEMO_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/lab/tree/\S+\?token=([0-9a-f]+)")


def isolated_jupyter_env(base_dir: Path) -> dict[str, str]:
    """Environment variables for a JupyterLab of a test's own: private config
    and runtime dirs (no news toast, no update check), ``window.jupyterapp``
    exposed so a test can drive the page."""
    config_dir = base_dir / "jupyter-config"
    runtime_dir = base_dir / "jupyter-runtime"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    _write_lab_settings(config_dir)
    (config_dir / "jupyter_lab_config.json").write_text(
        json.dumps({"LabApp": {"expose_app_in_browser": True}})
    )
    return {
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(runtime_dir),
    }


class KitDemo:
    """``kit demo ARGS`` in a subprocess; its output lines are collected by a
    thread (``lines``), and ``wait_for`` waits for one to match."""

    def __init__(
        self, args: list[str], *, env: Mapping[str, str], cwd: Path | None = None
    ) -> None:
        import threading

        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kit.cli", "demo", *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern`` (waits up to ``timeout`` s)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                self._reader.join(5)
                if any(regex.search(line) for line in self.lines):
                    continue
                raise AssertionError(
                    f"kit demo exited ({self.process.returncode}) before printing "
                    f"{regex.pattern!r}:\n{self.output}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"kit demo printed no {regex.pattern!r} within {timeout:.0f} s:\n"
                    f"{self.output}"
                )
            time.sleep(0.05)

    def descendants(self) -> list[Any]:
        """Every process below kit demo now (psutil processes)."""
        import psutil

        return list(psutil.Process(self.process.pid).children(recursive=True))

    def stop(self, signum: int = signal.SIGINT, timeout: float = 60.0) -> int:
        """Send ``signum``; returns the exit code (killed after ``timeout`` s)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"kit demo did not stop within {timeout:.0f} s:\n{self.output}"
            ) from None
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


def alive(processes: Iterable[Any]) -> list[str]:
    """Those of ``processes`` (psutil) still running, described."""
    import psutil

    left = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
    return left
