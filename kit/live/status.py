"""The live status of chains and services: per step records, msg/s, lag,
DLQ, late records (dropped by a window they came after), schema drift (fields
added to the input since export, type conflicts), errors and the guarantee
in force; then the services' notices (a reset of local state)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .._jobs import Job
from .table import STYLE

__all__ = ["StatusView", "status_html", "status_page"]


def status_html(services: list[Any], ended: Sequence[Any] = ()) -> str:
    """A table of running services' steps, then of services that ended on
    their own (how, and the last line of their log)."""
    if not services and not ended:
        return "<div class='kit-empty'>No chain is running.</div>"
    rows = []
    notes = []
    for service in services:
        status = service.status() or {"steps": []}
        notes += [f"{service.name}: {n}" for n in status.get("notices", ())]
        if not status["steps"]:  # started, no status written yet
            rows.append(
                f"<tr><td>{html.escape(service.name)}</td><td></td><td></td>"
                f"<td>starting (pid {service.pid})</td>" + "<td></td>" * 10 + "</tr>"
            )
        for s in status["steps"]:
            lag = "?" if s.get("lag") is None else f"{s['lag']:,}"
            err = html.escape(s.get("last_error") or "")
            late = s.get("late", 0)
            dups = s.get("duplicates", 0)
            drift = _drift(s)
            late_class = (
                " class='kit-bad' title='records dropped: they came after their window closed'"
                if late
                else ""
            )
            rows.append(
                f"<tr><td>{html.escape(service.name)}</td><td style='text-align:left'>{html.escape(s['name'])}</td>"
                f"<td>{s['kind']}</td><td>{html.escape(s['state'])}</td><td>{s['records_in']:,}</td>"
                f"<td>{s['records_out']:,}</td><td>{s['rate']:,.0f}</td><td>{lag}</td>"
                f"<td>{s['dlq']:,}</td><td{late_class}>{late:,}</td>"
                f"<td title='records dropped as repeats of ones seen (same kit-id)'>{dups:,}</td>"
                f"<td title='{html.escape(', '.join(s.get('new_fields') or []))}'>{html.escape(drift)}</td>"
                f"<td>{s['errors']}</td><td>{s['guarantee']}</td>"
                f"<td style='text-align:left'>{err}</td></tr>"
            )
    for gone in ended:
        last = gone.log_tail.strip().splitlines()[-1:] or [""]
        rows.append(
            f"<tr class='kit-ended'><td>{html.escape(gone.name)}</td><td></td><td></td>"
            f"<td class='kit-bad'>✖ {html.escape(gone.how)}</td>"
            + "<td></td>"
            * 10
            + f"<td style='text-align:left' title='{html.escape(gone.log)}'>"
            f"{html.escape(last[0])}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "service",
            "step",
            "kind",
            "state",
            "in",
            "out",
            "msg/s",
            "lag",
            "DLQ",
            "late",
            "repeats",
            "schema",
            "errors",
            "guarantee",
            "last error",
        )
    )
    notices = "".join(
        f"<div class='kit-note'>{html.escape(note)}</div>" for note in notes
    )
    return (
        STYLE
        + f"<table class='kit-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        + notices
    )


def _drift(step: dict[str, Any]) -> str:
    """How the step's input schema moved since export, in a few words.

    >>> _drift({"new_fields": ["drs", "tyre.age"], "conflicts": 3})
    '+2 fields · 3 conflicts'
    >>> _drift({})
    ''
    """
    parts = []
    added = step.get("new_fields") or []
    if added:
        parts.append(f"+{len(added)} field{'s' if len(added) > 1 else ''}")
    conflicts = step.get("conflicts") or 0
    if conflicts:
        parts.append(f"{conflicts:,} conflict{'s' if conflicts > 1 else ''}")
    return " · ".join(parts)


def status_page(*, mine: bool) -> str:
    """:func:`status_html` of the services this process started (``mine``)
    or of all, with a line saying how many others there are."""
    from ..ops.services import status

    report = status(all=not mine)
    page = status_html(report.services, report.ended)
    if report.elsewhere:
        page += (
            f"<div class='kit-note'>{report.elsewhere} more service(s) started "
            "elsewhere (another notebook or a shell): <code>%stream status --all"
            "</code> lists them.</div>"
        )
    return page


class StatusView(Job):
    """A widget with :func:`status_page`, redrawn every ``refresh`` seconds
    until stopped (``%stream stop``)."""

    kind = "status"

    def __init__(self, *, refresh: float = 1.0, mine: bool = True) -> None:
        import ipywidgets as widgets

        super().__init__("status")
        self.refresh = refresh
        self.mine = mine
        self.table = widgets.HTML()
        self.widget = widgets.VBox([self.table])
        self.draw()

    def draw(self) -> None:
        self.table.value = status_page(mine=self.mine)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            self.draw()
