"""The live topics table: partitions, messages and msg/s, refreshed in the background."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from .. import _session
from .._jobs import Job
from .table import STYLE

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection

__all__ = ["TopicsView", "topics", "topics_frame"]


def topics_frame(connection: Connection | None = None) -> pl.DataFrame:
    """Topics as a frame: ``topic``, ``partitions``, ``messages``."""
    import polars as pl

    rows = _session.current(connection).topics()
    return pl.DataFrame(
        {
            "topic": [r.name for r in rows],
            "partitions": [r.partitions for r in rows],
            "messages": [r.messages for r in rows],
        },
        schema={"topic": pl.String, "partitions": pl.Int64, "messages": pl.Int64},
    )


class TopicsView(Job):
    """An ipywidgets table of topics, refreshed every ``refresh`` seconds."""

    kind = "topics"

    def __init__(
        self, *, refresh: float = 2.0, connection: Connection | None = None
    ) -> None:
        import ipywidgets as widgets

        super().__init__("topics")
        self.connection = _session.current(connection)
        self.refresh = refresh
        self.rates: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._last: float | None = None
        self.table = widgets.HTML(
            STYLE + "<div class='kit-empty'>listing topics…</div>"
        )
        self.widget = widgets.VBox([self.table])
        self.draw()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ..headless import is_headless

        if is_headless():
            return {"text/html": self.table.value}
        return self.widget._repr_mimebundle_(**kwargs)

    def draw(self) -> None:
        """Refresh counts and rates, then the table."""
        now = time.monotonic()
        rows = self.connection.topics()
        previous, elapsed = self.counts, (now - self._last if self._last else None)
        self.counts = {r.name: r.messages for r in rows}
        if elapsed:
            self.rates = {
                name: max(0.0, (count - previous.get(name, count)) / elapsed)
                for name, count in self.counts.items()
            }
        self._last = now
        body = "".join(
            f"<tr><td style='text-align:left'>{html.escape(r.name)}</td><td>{r.partitions}</td>"
            f"<td>{r.messages:,}</td><td>{self._rate(r.name)}</td></tr>"
            for r in rows
        )
        head = "<tr><th style='text-align:left'>topic</th><th>partitions</th><th>messages</th><th>msg/s</th></tr>"
        where = html.escape(self.connection.address or "Quix Cloud")
        self.table.value = (
            STYLE + f"<div class='kit-note'>{where} · {len(rows)} topics</div>"
            f"<table class='kit-table'><thead>{head}</thead><tbody>{body}</tbody></table>"
        )

    def _rate(self, name: str) -> str:
        rate = self.rates.get(name)
        return "…" if rate is None else f"{rate:,.0f}"

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            self.draw()


def topics(
    *, refresh: float | None = None, connection: Connection | None = None
) -> TopicsView:
    """A live table of the broker's topics (``%stream topics``), refreshed
    every ``refresh`` seconds (default: the ``topics_refresh`` setting, 2 s)."""
    from .._config import config
    from ..headless import is_headless

    if refresh is None:
        refresh = config().topics_refresh
    view = TopicsView(refresh=refresh, connection=connection)
    return view if is_headless() else view.start()  # headless: drawn once
