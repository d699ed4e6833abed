"""Background jobs in this process (taps, replays, demo producers).

Each job runs in a daemon thread, can be stopped and waited for, and is
listed in a registry so ``%stream stop`` (or interpreter exit) stops them all.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Any, TypeVar

__all__ = ["Job", "running_jobs", "stop"]

J = TypeVar("J", bound="Job")

_JOBS: weakref.WeakSet[Job] = weakref.WeakSet()
_LOCK = threading.Lock()


class Job:
    """A stoppable background thread running :meth:`_run`.

    Subclasses implement ``_run`` and check ``self._stop.is_set()`` often.
    """

    kind = "job"

    def __init__(self, name: str) -> None:
        self.name = name
        self.error: BaseException | None = None
        self.started_at = time.time()
        self.ended_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"kit-{name}", daemon=True
        )

    def start(self: J) -> J:
        with _LOCK:
            _JOBS.add(self)
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.error = exc
        finally:
            self.ended_at = time.time()
            with _LOCK:
                _JOBS.discard(self)

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the job to stop and wait (up to ``timeout`` s) until it has."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the job ends; True if it did. Re-raises its error."""
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return not self._thread.is_alive()

    def describe(self) -> dict[str, Any]:
        """A small status summary (for ``%stream status`` and the panel)."""
        return {"kind": self.kind, "name": self.name, "running": self.running}

    def __repr__(self) -> str:
        state = "running" if self.running else ("failed" if self.error else "done")
        return f"<{type(self).__name__} {self.name!r} {state}>"


def running_jobs() -> list[Job]:
    with _LOCK:
        return [job for job in _JOBS if job.running]


def stop(name: str | None = None) -> list[Job]:
    """Stop the running jobs ``name`` names (all without one; see
    :func:`kit.ops._names.select`); returns them."""
    from .ops._names import select

    jobs = select(running_jobs(), name, lambda job: job.name)
    for job in jobs:
        job._stop.set()
    for job in jobs:
        job.stop()
    return jobs


atexit.register(stop)
