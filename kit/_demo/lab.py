"""JupyterLab for ``kit demo``: started, waited for, stopped with its kernels.

The server runs in a session of its own, so a terminal's Ctrl-C reaches
``kit demo`` only, which then stops it in order: kernels through the server's
API, then the server (SIGTERM), then whatever is left of the kernel processes
and their children (SIGTERM, SIGKILL). A browser JupyterLab opened is left
alone: it is the user's.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _logs, _ports, _procs
from .._errors import KitError

__all__ = [
    "DEFAULT_PORT",
    "LabServer",
    "choose_port",
    "finish",
    "kernel_tree",
]

DEFAULT_PORT = 8888
TIMEOUT = 90.0  # seconds for JupyterLab to answer (about 3-7 s on 2 cores)


@dataclass
class LabServer:
    """A ``jupyter lab`` process kit demo started (in a session of its own, so
    a terminal's Ctrl-C reaches kit demo only, which stops it in order)."""

    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    token: str
    notebook_url: str  # the notebook, with the token
    log: Path
    took: float

    @classmethod
    def start(
        cls,
        root: Path,
        notebook: Path,
        *,
        port: int,
        browser: bool,
        env: dict[str, str],
        log: Path,
        timeout: float = TIMEOUT,
    ) -> LabServer:
        started = time.monotonic()
        token = secrets.token_hex(24)
        path = urllib.parse.quote(notebook.relative_to(root).as_posix())
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "jupyterlab",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
            f"--ServerApp.open_browser={browser}", f"--LabApp.default_url=/lab/tree/{path}",
            # No "fetch Jupyter news?" pop-up over the demo, no update check.
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        if curve_available():
            # Kernels talk to the server encrypted (and ipykernel does not warn
            # "Kernel is running over TCP without encryption" in the terminal).
            command.append("--KernelManager.transport_encryption=auto")
        # The token goes by environment, not argv: `ps` would show it.
        env = {**env, "JUPYTER_TOKEN": token, "PYTHONUNBUFFERED": "1"}
        process = _procs.spawn(command, env=env, log=log, cwd=root, append=False)
        lab = cls(process, url, token, f"{url}/lab/tree/{path}?token={token}", log, 0.0)
        try:
            lab._wait_ready(timeout)
        except BaseException:
            lab.stop()
            raise
        lab.took = time.monotonic() - started
        return lab

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise KitError(
                    f"JupyterLab exited with code {code} at start; the end of "
                    f"{self.log}:\n{_logs.tail(self.log)}"
                )
            try:
                self.api("GET", "/api/status", timeout=2.0)
                return
            except (OSError, ValueError, http.client.HTTPException):
                pass  # not listening yet (URLError is an OSError), or half up
            if time.monotonic() > deadline:
                raise KitError(
                    f"JupyterLab did not answer at {self.url} within {timeout:.0f} s; "
                    f"see {self.log}."
                )
            time.sleep(0.2)

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait(self, every: Callable[[], None] | None = None) -> int:
        """Block until JupyterLab exits (Ctrl-C raises KeyboardInterrupt),
        calling ``every`` about 3 times a second; returns its exit code."""
        while True:
            code = self.process.poll()
            if code is not None:
                return code
            if every is not None:
                every()
            time.sleep(0.3)

    def stop(self) -> int:
        """Shut the kernels down, then the server; returns how many kernels ran.

        The kernel processes (and their children, e.g. a live ``%stream run``)
        are noted first and made sure to be gone at the end.
        """
        tree = kernel_tree(self.process.pid)
        kernels: list[dict[str, Any]] = []
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                kernels = self.api("GET", "/api/kernels", timeout=5.0) or []
            for kernel in kernels:
                with contextlib.suppress(OSError, ValueError):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=20.0)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        finish(tree, grace=5.0)
        return len(kernels)


def kernel_tree(parent: int) -> list[Any]:
    """The kernel processes under ``parent`` and their children (psutil).

    Only kernels: a browser that JupyterLab opened is its child too, and is
    none of kit demo's business.
    """
    import psutil

    try:
        below = psutil.Process(parent).children(recursive=True)
    except psutil.Error:
        return []
    tree: dict[int, psutil.Process] = {}
    for process in below:
        with contextlib.suppress(psutil.Error):
            if any("ipykernel" in part for part in process.cmdline()):
                tree[process.pid] = process
                tree.update((p.pid, p) for p in process.children(recursive=True))
    return list(tree.values())


def finish(processes: list[Any], *, grace: float) -> None:
    """Wait ``grace`` s for ``processes`` to end, then SIGTERM, then SIGKILL."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(alive, timeout=5)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def curve_available() -> bool:
    """Whether pyzmq can encrypt kernel connections (CurveZMQ)."""
    import zmq

    return bool(zmq.has("curve"))


def choose_port(port: int | None) -> int:
    """``port`` (it must be free), else 8888 or the next free one."""
    return _ports.choose_port(
        port,
        DEFAULT_PORT,
        in_use=(
            "Port {port} on 127.0.0.1 is in use (another JupyterLab?); pass "
            "another --port, or none to take the next free one from "
            f"{DEFAULT_PORT}."
        ),
        none_free=(
            f"No free port from {DEFAULT_PORT} to {DEFAULT_PORT + 99} on "
            "127.0.0.1; pass --port."
        ),
        reuse_address=True,  # as JupyterLab binds
    )
