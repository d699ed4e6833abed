"""A chain running live from a notebook: started, watched, restarted.

``%stream run`` (and :func:`kit.ops.live.start_live`) exports the kernel's
chain to a folder in the state directory and runs that folder's main.py as a
child process: exactly the code ``%stream export`` writes. Re-running a step
cell while its chain is live restarts the chain from its committed offsets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .session import session

__all__ = ["LiveRun", "restart_if_live", "start_live"]


class LiveRun:
    """A running chain: ``status()``, ``stop()``; shows its status table."""

    def __init__(self, service: Any, steps: list[str]) -> None:
        self._service = service
        self.steps = steps

    @property
    def service(self) -> Any:
        """The chain's current process: re-running a step cell restarts it
        under the same name (a new pid), and this handle follows."""
        from ..process import list_services

        current = next(
            (s for s in list_services() if s.name == self._service.name), None
        )
        if current is not None:
            self._service = current
        return self._service

    @property
    def name(self) -> str:
        return str(self._service.name)

    def status(self) -> dict[str, Any] | None:
        return self.service.status()  # type: ignore[no-any-return]

    def stop(self) -> None:
        from ..process import stop_service

        stop_service(self.name)

    def wait(self, *, idle: float = 2.0, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the chain has caught up with its input; its last status.

        Caught up: every step is running, a step reading a topic has taken in
        records if that topic has any, a step reading another step has taken
        in at least what that step put out, and no step's counters moved for
        ``idle`` seconds. Call it once the input is complete (after
        ``replay.wait()``, say), before reading the outputs. A step restarted
        with nothing new to read counts as caught up once its lag is 0.

        >>> live = %stream run                    # doctest: +SKIP
        >>> replay.wait(); live.wait()            # doctest: +SKIP
        """
        import time

        from .. import _session
        from .._errors import KitError

        deadline = time.monotonic() + timeout
        last: Any = None
        still_since = time.monotonic()
        while True:
            if not self.service.alive:
                from .. import _logs
                from ..process import ended_services

                gone = next((e for e in ended_services() if e.name == self.name), None)
                how = gone.how if gone is not None else "is not running"
                raise KitError(
                    f"Live chain {self.name!r} {how}; its log ({self.service.log}) "
                    "ends:\n" + _logs.tail(self.service.log)
                )
            status = self.status() or {"steps": []}
            steps = status["steps"]
            now = time.monotonic()
            counters = [(s["records_in"], s["records_out"]) for s in steps]
            if counters != last:
                last, still_since = counters, now
            if now - still_since >= idle and _caught_up(steps, _session.current):
                for step in steps:
                    if step.get("late"):
                        print(
                            f"Step {step['name']!r} dropped {step['late']:,} late "
                            "record(s): they came after their window had closed."
                        )
                return status
            if now >= deadline:
                counts = ", ".join(
                    f"{s['name']}: {s['records_in']} in, {s['records_out']} out"
                    for s in steps
                )
                raise KitError(
                    f"Live chain {self.name!r} did not catch up within {timeout:g} s "
                    f"({counts or 'no status yet'}); `%stream status` shows why."
                )
            time.sleep(0.2)

    def _repr_html_(self) -> str:
        from ..live.status import status_html

        return status_html([self.service])

    def __repr__(self) -> str:
        return f"<LiveRun {self.name!r} pid={self.service.pid} steps={self.steps}>"


def _caught_up(steps: list[dict[str, Any]], connection: Callable[[], Any]) -> bool:
    """Whether every step has taken in what its input holds (see LiveRun.wait).

    >>> a = {"name": "a", "input": "t", "output": "a", "state": "running",
    ...      "records_in": 5, "records_out": 3}
    >>> b = dict(a, name="b", input="a", output="b", records_in=2)
    >>> _caught_up([a, b], None), _caught_up([a, dict(b, records_in=3)], None)
    (False, True)
    """
    if not steps or any(s["state"] != "running" for s in steps):
        return False
    produced = {s["output"]: s["records_out"] for s in steps}
    for step in steps:
        upstream = produced.get(step["input"])
        if upstream is not None:
            # Repeats (same identity) were taken in too, then dropped.
            if step["records_in"] + step.get("duplicates", 0) < upstream:
                return False
        elif step["records_in"] == 0 and step.get("lag") != 0:
            # Not started reading, or an empty topic? (A step that started
            # where it had left off, with nothing new, has a lag of 0.)
            counts = {t.name: t.messages for t in connection().topics()}
            if counts.get(step["input"], 0) > 0:
                return False
    return True


def start_live(
    steps: list[str] | None = None, *, name: str = "live", detach: bool = False
) -> LiveRun:
    """Run the kernel's chain (or ``steps``, with what they depend on) live
    as the service ``name``, each Polars step starting from the schema its
    prototype saw; returns once every step runs."""
    from .. import _session, _state
    from .._export import export_chain
    from ..chain.capture import kernel_chain
    from ..chain.prototype import LIVE_PARTITIONS
    from ..process import start_service, wait_running

    chain = kernel_chain()
    if not chain.steps:
        from ..chain.step import ChainError

        raise ChainError(
            "No %%stream steps yet: write one with `%%stream NAME --input TOPIC`."
        )
    connection = _session.current()
    service_name = name
    ordered = [s.name for s in chain.ordered(steps)]
    for step in chain.ordered(steps):  # outputs exist before anyone reads them
        connection.create_topic(chain.output_topic(step), partitions=LIVE_PARTITIONS)
    folder = _state.state_dir() / "live" / service_name
    topics = [t.name for t in connection.topics()]
    # Each Polars step starts from the schema its prototype saw (schema.json).
    schemas = {
        step_name: prototype.input_schema
        for step_name, prototype in session.prototypes.items()
        if step_name in ordered
    }
    export_chain(
        chain,
        folder,
        name=service_name,
        steps=ordered,
        source="a live notebook",
        topics=topics,
        schemas=schemas,
    )
    service = start_service(
        folder, name=service_name, connection=connection, detach=detach
    )
    for notice in wait_running(service).get("notices", ()):
        print(notice)
    session.live[service_name] = ordered
    return LiveRun(service, ordered)


def restart_if_live(step: str) -> None:
    """Re-running a step cell while its chain is live restarts the chain from
    its committed offsets (nothing lost)."""
    for service_name, steps in list(session.live.items()):
        if step in steps:
            from ..process import list_services

            if any(s.name == service_name for s in list_services()):
                start_live(steps, name=service_name, detach=False)
                print(f"Restarted live chain {service_name!r} with the new {step!r}.")
