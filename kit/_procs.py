"""Processes the kit starts (brokers, services, ``kit demo``'s JupyterLab):
one way to start them, to tell whether a recorded pid is still the process
that was started (a pid is reused once its process is gone), and to stop
them.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence

__all__ = ["exit_code", "same_process", "spawn", "terminate"]

#: The children this process started, by pid (their exit codes).
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    command: Sequence[str],
    *,
    env: dict[str, str],
    log: str | os.PathLike[str],
    cwd: str | os.PathLike[str] | None = None,
    append: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own (it outlives the shell or
    kernel that asked, and a Ctrl-C there does not reach it), stdin from
    /dev/null, stdout and stderr to ``log`` (appended, or written anew).

    >>> import sys, tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "hi.log"
    >>> child = spawn([sys.executable, "-c", "print('hi')"], env={}, log=log)
    >>> child.wait(), log.read_text()
    (0, 'hi\\n')
    """
    with open(log, "ab" if append else "wb") as out:
        child = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    _SPAWNED[child.pid] = child
    return child


def exit_code(pid: int) -> int | None:
    """The exit code of our child ``pid`` if it has ended (negative: the
    signal that ended it), else None (also for a pid that is no child)."""
    child = _SPAWNED.get(pid)
    if child is not None:
        return child.poll()
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status) if done else None


def same_process(
    pid: int, started_at: float, *, within: float = 5.0, argv: Sequence[str] = ()
) -> bool:
    """Whether ``pid`` is alive (not a zombie) and is the process recorded
    as started at ``started_at`` (epoch seconds, give or take ``within``),
    with each of ``argv`` among its arguments: not another process that got
    the pid after it ended.

    >>> import os, time, psutil
    >>> same_process(os.getpid(), psutil.Process().create_time())
    True
    >>> same_process(os.getpid(), time.time() - 3600)  # another, long ago
    False
    """
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
        cmdline = process.cmdline() if argv else []
    except psutil.Error:
        return False
    if any(arg not in cmdline for arg in argv):
        return False
    return bool(abs(created - started_at) < within)


def terminate(
    pid: int, *, timeout: float = 10.0, started_at: float | None = None
) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` s, then SIGKILL; nothing if it
    is gone, or (with ``started_at``) is no longer the process started then."""
    import psutil

    if started_at is not None and not same_process(pid, started_at):
        return
    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    except psutil.Error:
        pass
    child = _SPAWNED.pop(pid, None)
    if child is not None:
        child.poll()  # reaped above: the child object knows it has ended
