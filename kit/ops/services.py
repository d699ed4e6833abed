"""Status, stop and run of the kit's services: each once, for every front end.

``%stream status/stop``, ``kit status/stop/run`` and the Streams panel's
server API only parse their arguments, call these and render the result.
Names are matched one way everywhere (:func:`kit.ops._names.select`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import process
from .._errors import KitError
from ._names import select

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["Report", "Stopped", "run", "status", "stop"]


@dataclass
class Report:
    """What :func:`status` found.

    Attributes:
        services: the running services (:class:`kit.process.Service`); each
            one's ``status()`` holds its steps' counters.
        ended: services that ended without being stopped, newest first
            (:class:`kit.process.EndedService`: how, and the end of its log).
        elsewhere: how many more (running or ended) other processes started,
            left out because ``all`` was not given.
    """

    services: list[process.Service] = field(default_factory=list)
    ended: list[process.EndedService] = field(default_factory=list)
    elsewhere: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON the server API answers with (the Streams panel's)."""
        services = []
        for service in self.services:
            status = service.status() or {}
            services.append({
                "name": service.name, "pid": service.pid, "folder": service.folder,
                "started_at": service.started_at, "steps": status.get("steps", []),
                "notices": status.get("notices", []),
            })  # fmt: skip
        ended = [
            {"name": e.name, "how": e.how, "ended_at": e.ended_at, "log": e.log,
             "log_tail": e.log_tail}
            for e in self.ended
        ]  # fmt: skip
        return {"services": services, "ended": ended, "elsewhere": self.elsewhere}


def status(name: str | None = None, *, all: bool = False) -> Report:
    """The kit's services: those this process started (a notebook's kernel,
    a script), or with ``all`` every one in the state directory (what
    ``kit status`` in a shell shows), with the ones that ended on their own.

    >>> import kit
    >>> report = kit.status(all=True)
    >>> isinstance(report.services, list), isinstance(report.ended, list)
    (True, True)
    """
    services = select(process.list_services(), name, lambda s: s.name)
    ended = select(process.ended_services(), name, lambda e: e.name)
    if all:
        return Report(services, ended)
    own = [s for s in services if s.mine]
    own_ended = [e for e in ended if e.mine]
    elsewhere = len(services) - len(own) + len(ended) - len(own_ended)
    return Report(own, own_ended, elsewhere)


@dataclass
class Stopped:
    """What :func:`stop` did.

    Attributes:
        stopped: names of what was stopped (services, and the live views,
            replays and producers of this process).
        cleared: names of ended services whose records were cleared.
        elsewhere: matching services other processes started, left running
            because ``all`` was not given.
    """

    stopped: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    #: when nothing matched: the names there are (services, views, ended)
    known: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        """The name named something (stopped, cleared or left running)."""
        return bool(self.stopped or self.cleared or self.elsewhere)

    def lines(self, query: str | None = None, hint: str = "--all") -> list[str]:
        """What to tell the user.

        >>> Stopped(["live"], [], ["other"]).lines()
        ['Stopped: live', 'Still running, started elsewhere: other: `--all` stops them too.']
        >>> Stopped().lines("x")
        ["Nothing running matches 'x'."]
        >>> Stopped(known=["laps-svc", "live"]).lines("lap-svc")
        ["Nothing running matches 'lap-svc'. Did you mean 'laps-svc'? Running: laps-svc, live."]
        """
        out = []
        if self.cleared:
            out.append("Cleared ended: " + ", ".join(self.cleared))
        if self.stopped:
            out.append("Stopped: " + ", ".join(self.stopped))
        elif not self.cleared and query is None:
            out.append("Nothing is running.")
        elif not self.cleared and query is not None:
            out.append(
                f"Nothing running matches {query!r}." + _others(query, self.known)
            )
        if self.elsewhere:
            out.append(
                f"Still running, started elsewhere: {', '.join(self.elsewhere)}: "
                f"`{hint}` stops them too."
            )
        return out


def stop(name: str | None = None, *, all: bool = False, warn: bool = True) -> Stopped:
    """Stop what ``name`` names (everything without one): this process's
    live views, replays and producers, and the services it started (with
    ``all``, also those other kernels and shells started, as ``kit stop``
    in a shell does); clears the records of services that ended on their
    own. ``name`` is a service's or a view's name, or a part of it when no
    name is exactly it.

    When ``name`` names only services another process started (``kit
    run`` in a shell, another kernel), nothing stops and, with ``warn``, a
    :class:`kit.KitWarning` says so and how (``all=True``); the front ends
    show :meth:`Stopped.lines` instead.

    >>> import kit
    >>> kit.stop("no-such-thing").stopped
    []
    """
    from .. import _jobs

    done = Stopped()
    done.stopped = [job.name for job in _jobs.stop(name)]
    services = select(process.list_services(), name, lambda s: s.name)
    for service in services:
        if all or service.mine:
            process.stop_service(service.name)
            done.stopped.append(service.name)
            _forget_live(service.name)
        else:
            done.elsewhere.append(service.name)
    done.cleared = [e.name for e in process.forget_ended(name, mine=not all)]
    if name is not None and not done.matched:
        done.known = sorted(
            {s.name for s in process.list_services()}
            | {j.name for j in _jobs.running_jobs()}
            | {e.name for e in process.ended_services()}
        )
    if warn and done.elsewhere and not done.stopped:
        import warnings

        from .._errors import KitWarning

        warnings.warn(
            f"Not stopped: {', '.join(done.elsewhere)}, started by another process "
            f"(kit run in a shell, another kernel); kit.stop({name!r}, all=True) "
            "stops it.",
            KitWarning,
            stacklevel=2,
        )
    return done


def _others(query: str, names: list[str]) -> str:
    """' Did you mean ...? Running: ...' for a name that named nothing."""
    import difflib

    if not names:
        return ""
    close = difflib.get_close_matches(query, names, n=1, cutoff=0.6)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return f"{guess} Running: {', '.join(names)}."


def _forget_live(name: str) -> None:
    from .session import session

    session.live.pop(name, None)


def run(
    folder: str | Path,
    *,
    name: str | None = None,
    connection: Connection | None = None,
    detach: bool = True,
) -> process.Service:
    """Start an exported service (``kit export``'s folder) as a process on
    ``connection`` (default: the current one) and wait until every step
    runs; what its state needed (a reset, say) is printed. ``detach``: it
    keeps running when this process ends (else it stops with it).

    Raises:
        KitError: the folder holds no service, or it exited at start (with
            the end of its log).
    """
    from .. import _session

    folder = Path(folder)
    if not (folder / "main.py").is_file():
        raise KitError(
            f"{str(folder)!r} holds no exported service (no main.py): export one "
            "with `kit export NOTEBOOK FOLDER` or `%stream export FOLDER`."
        )
    connection = _session.current(connection)
    service = process.start_service(
        folder,
        name=name or folder.resolve().name,
        connection=connection,
        detach=detach,
    )
    for notice in process.wait_running(service).get("notices", ()):
        print(notice)
    return service
