"""The live status of chains and services: per step records, msg/s, lag,
DLQ, errors and the guarantee in force."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .._jobs import Job
from .table import STYLE

__all__ = ["StatusView", "status_html"]


def status_html(services: list[Any], ended: Sequence[Any] = ()) -> str:
    """A table of running services' steps, then of services that ended on
    their own (how, and the last line of their log)."""
    if not services and not ended:
        return "<div class='kit-empty'>No chain is running.</div>"
    rows = []
    for service in services:
        status = service.status() or {"steps": []}
        for s in status["steps"]:
            lag = "?" if s.get("lag") is None else f"{s['lag']:,}"
            err = html.escape(s.get("last_error") or "")
            rows.append(
                f"<tr><td>{html.escape(service.name)}</td><td style='text-align:left'>{html.escape(s['name'])}</td>"
                f"<td>{s['kind']}</td><td>{html.escape(s['state'])}</td><td>{s['records_in']:,}</td>"
                f"<td>{s['records_out']:,}</td><td>{s['rate']:,.0f}</td><td>{lag}</td>"
                f"<td>{s['dlq']:,}</td><td>{s['errors']}</td><td>{s['guarantee']}</td>"
                f"<td style='text-align:left'>{err}</td></tr>"
            )
    for gone in ended:
        last = gone.log_tail.strip().splitlines()[-1:] or [""]
        rows.append(
            f"<tr class='kit-ended'><td>{html.escape(gone.name)}</td><td></td><td></td>"
            f"<td class='kit-bad'>✖ {html.escape(gone.how)}</td>"
            + "<td></td>"
            * 7
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
            "errors",
            "guarantee",
            "last error",
        )
    )
    return (
        STYLE
        + f"<table class='kit-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


class StatusView(Job):
    """A widget with :func:`status_html` of the kit's services, redrawn every
    ``refresh`` seconds until stopped (``%stream stop``)."""

    kind = "status"

    def __init__(self, *, refresh: float = 1.0) -> None:
        import ipywidgets as widgets

        super().__init__("status")
        self.refresh = refresh
        self.table = widgets.HTML()
        self.widget = widgets.VBox([self.table])
        self.draw()

    def draw(self) -> None:
        from ..process import ended_services, list_services

        self.table.value = status_html(list_services(), ended_services())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            self.draw()
