"""Run a chain as a service: the entry point of exported ``main.py`` files
and of live runs started from a notebook (the same code).

* Polars steps run in threads, each with its own consumer group member.
* Quix steps run in one quixstreams ``Application`` on the main thread
  (``app.run()`` installs signal handlers, which only the main thread may).
* SIGTERM/SIGINT: every step finishes its current batch, commits and the
  process exits 0. A step that fails stops the service with exit code 1.
* ``KIT_STATUS_FILE``: a JSON status (per step: records, msg/s, lag, DLQ,
  late records, errors, guarantee; notices such as a reset of local state)
  rewritten every second; the last one says how the service ended
  (``stopped``, and ``failed`` with the error, ``exit_code``).
* Quix steps' local state (``KIT_STATE_DIR_SERVICE``) is checked against the
  broker before they start (:mod:`.state_guard`).
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
from functools import partial
from typing import Any, NoReturn

from .broker_watch import NO_INPUT, UNREACHABLE, BrokerChanged, BrokerWatch
from .chain import Step
from .polars_step import PolarsStepRunner
from .profile import BrokerSettings, settings_from_env
from .quix_step import DeadLetters, attach_quix_step
from .state_guard import StateGuard
from .status import StepStatus, write_status

__all__ = ["NO_INPUT", "UNREACHABLE", "BrokerChanged", "main", "run"]

log = logging.getLogger("kit.service")


def main(steps: Sequence[Step], *, name: str) -> NoReturn:
    """A service's ``main.py``: :func:`run`, then exit with its code at once.

    Everything is done by then (offsets committed, the last status written,
    logs flushed); leaving without the interpreter's teardown keeps a Kafka
    client still closing in a helper thread from crashing the process on its
    way out (a SIGSEGV, which would read as a crash, not as how it ended).
    """
    code = run(steps, name=os.environ.get("KIT_SERVICE_NAME") or name)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    threads = _step_threads(steps, settings, group, stop, statuses, failures)
    quix_steps = [s for s in steps if s.kind == "quix"]
    notices: list[str] = []
    app = None
    if quix_steps:
        app = _quix_app(quix_steps, settings, f"{group}-quix", statuses, notices)
    watch = BrokerWatch(settings, statuses)
    status_file = os.environ.get("KIT_STATUS_FILE")
    extra = {"broker": settings.address, "notices": notices}
    helpers = [
        threading.Thread(
            target=_report,
            args=(status_file, name, statuses, stop, extra),
            daemon=True,
        ),
        threading.Thread(
            target=_guard(
                partial(watch.run, stop),
                stop,
                failures,
                on_changed=partial(_end_now, status_file, name, statuses, extra, stop),
            ),
            daemon=True,
        ),
    ]
    if quix_steps:
        helpers.append(
            threading.Thread(
                target=_quix_lag,
                args=(settings, f"{group}-quix", quix_steps, statuses, stop),
                daemon=True,
            )
        )
    parent = os.environ.get("KIT_PARENT_PID")
    if parent:
        helpers.append(
            threading.Thread(
                target=_watch_parent, args=(int(parent), stop, app), daemon=True
            )
        )
    for thread in threads + helpers:
        thread.start()
    _until_stopped(app, stop, failures)
    for thread in threads:
        thread.join()
    error = _why_it_failed(failures, watch)
    _final_states(statuses, error)
    if status_file:
        write_status(
            status_file,
            name,
            list(statuses.values()),
            stopped=True,
            failed=error,
            exit_code=1 if failures else 0,
            **extra,
        )
    if failures:
        print(f"kit service {name!r} failed: {error}", file=sys.stderr)
        return 1
    return 0


def _step_threads(
    steps: Sequence[Step],
    settings: BrokerSettings,
    group: str,
    stop: threading.Event,
    statuses: dict[str, StepStatus],
    failures: list[BaseException],
) -> list[threading.Thread]:
    """A thread per Polars step (a consumer group member of its own)."""
    return [
        threading.Thread(
            target=_guard(runner.run, stop, failures), name=runner.step.name
        )
        for runner in (
            PolarsStepRunner(
                step,
                settings,
                group=f"{group}-{step.name}",
                stop=stop,
                status=statuses[step.name],
            )
            for step in steps
            if step.kind == "polars"
        )
    ]


def _until_stopped(
    app: Any, stop: threading.Event, failures: list[BaseException]
) -> None:
    """Run the quixstreams app (if any) or wait, until a signal or ``stop``."""
    if app is not None:
        # quixstreams handles SIGTERM/SIGINT itself; when it returns, stop the rest.
        try:
            app.run()
        except BaseException as exc:
            failures.append(exc)
        stop.set()
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass


def _why_it_failed(failures: list[BaseException], watch: BrokerWatch) -> str | None:
    """The error to report (a change of broker first: it is why), or None."""
    if failures and not any(isinstance(f, BrokerChanged) for f in failures):
        try:  # a step that failed as the broker changed: the change is why
            watch.check()
        except BrokerChanged as exc:
            failures.append(exc)
    failures.sort(key=lambda f: not isinstance(f, BrokerChanged))  # it first
    return repr(failures[0]) if failures else None


def _final_states(statuses: dict[str, StepStatus], error: str | None) -> None:
    """Steps still shown as going: stopped, or failed with the Quix app."""
    for status in statuses.values():
        if status.state in ("starting", "running", UNREACHABLE, NO_INPUT):
            # The quixstreams app failed as a whole: each of its steps did.
            failed = error is not None and status.kind == "quix"
            status.state = "failed" if failed else "stopped"
            if failed:
                status.errors += 1
                status.last_error = error


def _quix_app(
    steps: Sequence[Step],
    settings: BrokerSettings,
    group: str,
    statuses: dict[str, StepStatus],
    notices: list[str],
) -> Any:
    """The quixstreams app of ``steps``, on local state checked against this
    broker (see :mod:`.state_guard`)."""
    state_dir = os.environ.get(
        "KIT_STATE_DIR_SERVICE", os.path.join(os.getcwd(), "state")
    )
    guard = StateGuard(
        settings.client_config(),
        state_dir=state_dir,
        group=group,
        inputs=[s.input for s in steps],
    )
    notice = guard.check()
    if notice:
        notices.append(notice)
        log.warning(notice)
    letters = DeadLetters(list(steps), statuses)
    app = settings.application(
        # Exactly-once outputs are seen (read_committed) once their transaction
        # commits, at each checkpoint: every second, not quixstreams' 5 s.
        commit_interval=1.0 if settings.transactions else 5.0,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
        on_consumer_error=letters.on_consumer_error,
        on_processing_error=letters.on_processing_error,
    )
    letters.app = app
    for step in steps:
        attach_quix_step(app, step, statuses[step.name], settings)
    # The steps' topics exist now: the state is this broker's from here on.
    guard.record()
    return app


def _guard(
    target: Any,
    stop: threading.Event,
    failures: list[BaseException],
    on_changed: Any = None,
) -> Any:
    def guarded() -> None:
        try:
            target()
        except BrokerChanged as exc:
            if on_changed is None:
                raise
            on_changed(exc)
        except BaseException as exc:
            failures.append(exc)
            log.exception("step failed")
            stop.set()
            # Wake the main thread if it runs a quixstreams app.
            os.kill(os.getpid(), signal.SIGTERM)

    return guarded


def _end_now(
    status_file: str | None,
    name: str,
    statuses: dict[str, StepStatus],
    extra: dict[str, Any],
    stop: threading.Event,
    error: BrokerChanged,
) -> NoReturn:
    """Another cluster answers at the address: say so and exit at once.

    Nothing is finished or committed (the offsets belong to the old cluster),
    and no client is closed: a librdkafka client that meets a second cluster
    aborts the whole process, which would leave "crashed" instead of why.
    """
    stop.set()
    time.sleep(0.1)  # a status report being written ends first
    reason = repr(error)
    for status in statuses.values():
        status.state, status.errors, status.last_error = (
            "failed",
            status.errors + 1,
            reason,
        )
    if status_file:
        write_status(
            status_file, name, list(statuses.values()),
            stopped=True, failed=reason, exit_code=1, **extra,
        )  # fmt: skip
    print(f"kit service {name!r} failed: {reason}", file=sys.stderr, flush=True)
    os._exit(1)


def _report(
    path: str | None,
    name: str,
    statuses: dict[str, StepStatus],
    stop: threading.Event,
    extra: dict[str, Any],
) -> None:
    while not stop.is_set():
        if path:
            with contextlib.suppress(OSError):
                write_status(path, name, list(statuses.values()), **extra)
        stop.wait(1.0)


def _quix_lag(
    settings: BrokerSettings,
    group: str,
    steps: Sequence[Step],
    statuses: dict[str, StepStatus],
    stop: threading.Event,
    every: float = 2.0,
) -> None:
    """The Quix steps' lag: their inputs' ends minus the group's committed
    offsets (committed at quixstreams' checkpoints), every ``every`` s."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    from .offsets import end_offsets

    config = settings.client_config()
    admin = AdminClient(dict(config))
    while not stop.wait(every):
        try:
            metadata = admin.list_topics(timeout=5)
            parts = {
                s.input: sorted(metadata.topics[s.input].partitions)
                for s in steps
                if s.input in metadata.topics
            }
            ends = end_offsets(
                settings.consumer_config(),
                parts,
                trust_watermarks=settings.profile != "local",
            )
            request = [ConsumerGroupTopicPartitions(group)]
            listed = admin.list_consumer_group_offsets(request)[group].result(5)
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in listed.topic_partitions
            }
            for step in steps:
                lag = 0
                for p in parts.get(step.input, []):
                    low, end = ends[(step.input, p)]
                    at = committed.get((step.input, p), -1)
                    lag += end - (at if at >= 0 else low)
                statuses[step.name].lag = max(lag, 0)
        except Exception:  # the broker away: unknown, not zero
            for step in steps:
                statuses[step.name].lag = None


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
