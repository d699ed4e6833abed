"""Service processes started by the kit: live runs and ``kit run``.

Each is recorded in the state directory (``services/<name>.json``: pid,
folder, log, status file), so ``kit status`` and ``kit stop`` in a shell see
what a notebook started. A service that ends without being stopped (it
failed, crashed or was killed) leaves ``services/<name>.ended.json``: how it
ended and the end of its log, shown by ``%stream status`` and ``kit status``
until it is started again or cleared by ``stop``. A live run watches its kernel (``KIT_PARENT_PID``)
and stops with it; the kernel also stops its children when it exits.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _logs, _procs, _state
from ._errors import KitError

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "EndedService",
    "Service",
    "ended_services",
    "forget_ended",
    "list_services",
    "start_service",
    "stop_service",
]

_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}
#: Children started with ``detach=True``: they outlive this process.
_DETACHED: set[str] = set()


@dataclass
class Service:
    name: str
    pid: int
    folder: str
    log: str
    status_file: str
    started_at: float
    detached: bool = False
    owner: int = 0  # pid of the process that started it (a kernel, a shell)

    @property
    def mine(self) -> bool:
        """Whether this process started it."""
        return self.owner == os.getpid()

    def status(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(Path(self.status_file).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data

    @property
    def alive(self) -> bool:
        child = _CHILDREN.get(self.name)
        if child is not None and child.pid == self.pid:
            return child.poll() is None
        # Not a zombie (ended, not yet reaped by a parent in another process,
        # e.g. a kernel whose service the Streams panel stopped), and not
        # another process that got the pid since: never signal that one.
        return _procs.same_process(self.pid, self.started_at, within=10.0)


@dataclass
class EndedService:
    """A service that ended without being stopped."""

    name: str
    pid: int
    log: str
    ended_at: float
    exit_code: int | None  # negative: killed by that signal; None: unknown
    last_state: str | None  # what its status file said last
    log_tail: str
    owner: int = 0  # pid of the process that started it

    @property
    def mine(self) -> bool:
        """Whether this process started it."""
        return self.owner == os.getpid()

    @property
    def how(self) -> str:
        """How it ended, in words.

        >>> EndedService("a", 1, "", 0.0, -11, "running", "").how
        'crashed (SIGSEGV)'
        >>> EndedService("a", 1, "", 0.0, 1, "failed", "").how
        'failed (exit code 1)'
        >>> EndedService("a", 1, "", 0.0, None, "running", "").how
        'ended unexpectedly'
        """
        code = self.exit_code
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            verb = (
                "was killed" if -code in (signal.SIGKILL, signal.SIGTERM) else "crashed"
            )
            return f"{verb} ({name})"
        if code:
            return f"failed (exit code {code})"
        if code == 0:
            return "exited"
        return "failed" if self.last_state == "failed" else "ended unexpectedly"


def _dir() -> Path:
    path = _state.state_dir() / "services"
    path.mkdir(exist_ok=True)
    return path


def service_env(connection: Connection, *, name: str, parent: bool) -> dict[str, str]:
    """Environment for a service process on ``connection``."""
    from .runtime.profile import SECURITY_ENV, settings_to_env

    env = {k: v for k, v in os.environ.items() if k not in SECURITY_ENV}
    env.pop("KIT_CLIENT_CONFIG", None)
    env.update(settings_to_env(connection.settings))
    env["KIT_GROUP"] = f"kit-{name}"
    env["PYTHONUNBUFFERED"] = "1"
    if parent:
        env["KIT_PARENT_PID"] = str(os.getpid())
    return env


def start_service(
    folder: str | Path,
    *,
    name: str,
    connection: Connection,
    detach: bool = False,
    group: str | None = None,
) -> Service:
    """Start ``folder``'s main.py as a child process (restarting a running one).

    Replicas of one service share a consumer ``group`` (default: one per
    name) and split the input partitions between them.
    """
    stop_service(name)  # also forgets how a previous run ended
    folder = Path(folder).resolve()
    log = _dir() / f"{name}.log"
    status_file = _dir() / f"{name}.status.json"
    status_file.unlink(missing_ok=True)
    env = service_env(connection, name=group or name, parent=not detach)
    env["KIT_STATUS_FILE"] = str(status_file)
    env["KIT_SERVICE_NAME"] = name  # what it runs as, whatever it was exported as
    env.setdefault("KIT_STATE_DIR_SERVICE", str(folder / "state" / name))
    child = _procs.spawn([sys.executable, "main.py"], cwd=folder, env=env, log=log)
    _CHILDREN[name] = child
    if detach:
        _DETACHED.add(name)
    else:
        _DETACHED.discard(name)
    service = Service(
        name=name,
        pid=child.pid,
        folder=str(folder),
        log=str(log),
        status_file=str(status_file),
        started_at=time.time(),
        detached=detach,
        owner=os.getpid(),
    )
    _state.write_json(f"services/{name}.json", asdict(service))
    return service


def list_services(*, mine: bool = False) -> list[Service]:
    """Recorded services (records of dead processes are dropped); with
    ``mine``, only those this process started."""
    # Our own children that died: their exit code says how they ended.
    codes: dict[str, int] = {}
    for name, child in list(_CHILDREN.items()):
        if child.poll() is not None:
            codes[name] = child.returncode
            del _CHILDREN[name]
    out = []
    for path in sorted(_dir().glob("*.json")):
        if path.name.endswith(".status.json"):
            continue
        try:
            service = Service(**json.loads(path.read_text()))
        except (OSError, TypeError, json.JSONDecodeError):
            continue
        if service.alive:
            out.append(service)
        else:
            code = codes.pop(service.name) if service.name in codes else None
            _record_end(service, code if code is not None else _reap(service.name))
            path.unlink(missing_ok=True)
    # A process that is not their parent may have recorded their end first.
    for name, code in codes.items():
        _upgrade_end(name, code)
    return [s for s in out if s.mine] if mine else out


def ended_services(*, mine: bool = False) -> list[EndedService]:
    """Services that ended without being stopped, newest first; with
    ``mine``, only those this process started."""
    list_services()  # records the ends of services that died since
    out = []
    for path in _dir().glob("*.ended.json"):
        try:
            ended = EndedService(**json.loads(path.read_text()))
        except (OSError, TypeError, json.JSONDecodeError):
            continue
        if ended.mine or not mine:
            out.append(ended)
    return sorted(out, key=lambda e: e.ended_at, reverse=True)


def forget_ended(name: str | None = None, *, mine: bool = False) -> list[EndedService]:
    """Clear the records of ended services (all, or those ``name`` names,
    see :func:`kit.ops._names.select`; with ``mine``, of those this process
    started); returns them."""
    from .ops._names import select

    gone = select(ended_services(mine=mine), name, lambda e: e.name)
    for ended in gone:
        (_dir() / f"{ended.name}.ended.json").unlink(missing_ok=True)
    return gone


def _upgrade_end(name: str, exit_code: int) -> None:
    """Add the exit code to the record of how ``name`` ended, if it lacks it."""
    path = _dir() / f"{name}.ended.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return
    if data.get("exit_code") is None and exit_code != 0:
        data["exit_code"] = exit_code
        _state.write_json(f"services/{name}.ended.json", data)


def _record_end(service: Service, exit_code: int | None) -> None:
    status = service.status() or {}
    states = {s.get("state") for s in status.get("steps", [])}
    if exit_code is None:
        exit_code = status.get("exit_code")  # what the service said of its end
    clean = status.get("stopped") and not status.get("failed")
    if clean and "failed" not in states and exit_code in (None, 0):
        return  # it stopped cleanly (e.g. SIGTERM from elsewhere)
    ended = EndedService(
        name=service.name,
        pid=service.pid,
        log=service.log,
        ended_at=time.time(),
        exit_code=exit_code,
        last_state="failed"
        if "failed" in states or status.get("failed")
        else next(iter(states), None),
        log_tail=_logs.tail(service.log, lines=8),
        owner=service.owner,
    )
    _state.write_json(f"services/{service.name}.ended.json", asdict(ended))


def stop_service(name: str, *, timeout: float = 20.0) -> Service | None:
    """SIGTERM (the current batch finishes and commits), then SIGKILL.

    Also forgets how an earlier run of ``name`` ended, if it did on its own.
    """
    (_dir() / f"{name}.ended.json").unlink(missing_ok=True)
    path = _dir() / f"{name}.json"
    try:
        service = Service(**json.loads(path.read_text()))
    except (OSError, TypeError, json.JSONDecodeError):
        # Stopped elsewhere (e.g. the Streams panel): reap our child, if any.
        child = _CHILDREN.get(name)
        if child is not None and child.poll() is None:
            child.terminate()
        _reap(name)
        return None
    if service.alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(service.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while service.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if service.alive:
            os.kill(service.pid, signal.SIGKILL)
            while service.alive:
                time.sleep(0.05)
    _reap(name)
    path.unlink(missing_ok=True)
    return service


def wait_running(service: Service, *, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until every step of ``service`` runs (reports "running", or that
    it waits for its input topic to exist)."""
    from .runtime.service import NO_INPUT

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive:
            raise KitError(
                f"Service {service.name!r} exited at start; its log ({service.log}) ends:\n"
                + _logs.tail(service.log)
            )
        status = service.status()
        if status and all(s["state"] in ("running", NO_INPUT) for s in status["steps"]):
            return status
        time.sleep(0.1)
    raise KitError(
        f"Service {service.name!r} did not start within {timeout:.0f} s; see {service.log}."
    )


def _reap(name: str) -> int | None:
    """Wait for our child ``name`` (if it is ours); its exit code."""
    child = _CHILDREN.pop(name, None)
    if child is None:
        return None
    try:
        return child.wait(5)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


@atexit.register
def _stop_children() -> None:
    """This process ends: its attached services end with it, detached ones
    keep running."""
    for name in list(_CHILDREN):
        if name not in _DETACHED:
            stop_service(name, timeout=10)
