"""Run a chain as a service: the entry point of exported ``main.py`` files
and of live runs started from a notebook (the same code).

* Polars steps run in threads, each with its own consumer group member.
* Quix steps run in one quixstreams ``Application`` on the main thread
  (``app.run()`` installs signal handlers, which only the main thread may).
* SIGTERM/SIGINT: every step finishes its current batch, commits and the
  process exits 0. A step that fails stops the service with exit code 1.
* ``KIT_STATUS_FILE``: a JSON status (per step: records, msg/s, lag, DLQ,
  errors, guarantee) rewritten every second.
* ``KIT_PARENT_PID``: stop when that process ends (a notebook kernel), so a
  live run is never orphaned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from .chain import Step
from .polars_step import PolarsStepRunner
from .profile import BrokerSettings, settings_from_env
from .quix_step import attach_quix_step
from .status import StepStatus, write_status

__all__ = ["run"]

log = logging.getLogger("kit.service")


def run(
    steps: Sequence[Step],
    *,
    name: str,
    settings: BrokerSettings | None = None,
    group: str | None = None,
) -> int:
    """Run ``steps`` until stopped; returns the process exit code."""
    settings = settings or settings_from_env()
    group = group or os.environ.get("KIT_GROUP") or f"kit-{name}"
    stop = threading.Event()
    statuses = {
        s.name: StepStatus(s.name, s.kind, s.input, s.output, settings.guarantee)
        for s in steps
    }
    failures: list[BaseException] = []
    threads = []
    for step in (s for s in steps if s.kind == "polars"):
        runner = PolarsStepRunner(
            step,
            settings,
            group=f"{group}-{step.name}",
            stop=stop,
            status=statuses[step.name],
        )
        threads.append(
            threading.Thread(target=_guard(runner.run, stop, failures), name=step.name)
        )
    quix_steps = [s for s in steps if s.kind == "quix"]
    app = None
    if quix_steps:
        state_dir = os.environ.get(
            "KIT_STATE_DIR_SERVICE", os.path.join(os.getcwd(), "state")
        )
        app = settings.application(
            consumer_group=f"{group}-quix",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            loglevel="WARNING",
        )
        for step in quix_steps:
            attach_quix_step(app, step, statuses[step.name])

    status_file = os.environ.get("KIT_STATUS_FILE")
    helpers = [
        threading.Thread(
            target=_report,
            args=(status_file, name, statuses, stop, settings.address),
            daemon=True,
        )
    ]
    parent = os.environ.get("KIT_PARENT_PID")
    if parent:
        helpers.append(
            threading.Thread(
                target=_watch_parent, args=(int(parent), stop, app), daemon=True
            )
        )
    for thread in threads + helpers:
        thread.start()

    if app is not None:
        # quixstreams handles SIGTERM/SIGINT itself; when it returns, stop the rest.
        try:
            app.run()
        except BaseException as exc:
            failures.append(exc)
        stop.set()
    else:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.wait(0.2):
            pass
    for thread in threads:
        thread.join()
    if status_file:
        for status in statuses.values():
            if status.state == "running":
                status.state = "stopped"
        write_status(
            status_file,
            name,
            list(statuses.values()),
            stopped=True,
            broker=settings.address,
        )
    if failures:
        print(f"kit service {name!r} failed: {failures[0]!r}", file=sys.stderr)
        return 1
    return 0


def _guard(target: Any, stop: threading.Event, failures: list[BaseException]) -> Any:
    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)
            log.exception("step failed")
            stop.set()
            # Wake the main thread if it runs a quixstreams app.
            os.kill(os.getpid(), signal.SIGTERM)

    return guarded


def _report(
    path: str | None,
    name: str,
    statuses: dict[str, StepStatus],
    stop: threading.Event,
    broker: str | None,
) -> None:
    while not stop.is_set():
        if path:
            with contextlib.suppress(OSError):
                write_status(path, name, list(statuses.values()), broker=broker)
        stop.wait(1.0)


def _watch_parent(pid: int, stop: threading.Event, app: Any) -> None:
    while not stop.wait(0.5):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
            if app is not None:
                os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0)
