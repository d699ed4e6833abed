"""The live peek widget: the newest records of a topic as a table.

Fed by a :class:`~kit.live.tap.Tap`; redraws at most ``refresh`` times a
second and only when new records arrived, so a fast topic cannot flood the
browser. Shows msg/s, records seen, bad records with the last error, and the
inferred schema (fields that appeared later are marked *new*).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .._jobs import Job

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection
    from .tap import Tap

__all__ = ["Peek", "peek", "render_table"]

MAX_COLUMNS = 40


def render_table(frame: pl.DataFrame, *, newest_first: bool = True) -> str:
    """An HTML table of ``frame`` (escaped, compact numbers and times).

    >>> import polars as pl
    >>> "<td>1.5</td>" in render_table(pl.DataFrame({"x": [1.5]}))
    True
    """
    import polars as pl

    if frame.is_empty():
        return "<div class='kit-empty'>waiting for records…</div>"
    if "_error" in frame.columns and frame["_error"].null_count() == frame.height:
        frame = frame.drop("_error")  # the status line counts bad records
    order = [c for c in ("_timestamp", "_partition", "_offset") if c in frame.columns]
    if order:
        frame = frame.sort(order, descending=newest_first)
    elif newest_first:
        frame = frame.reverse()
    columns = frame.columns[:MAX_COLUMNS]
    text = {c for c in columns if frame.schema[c] in (pl.String, pl.Categorical)}
    head = "".join(
        f"<th{' class=kit-text' if c in text else ''}>{html.escape(c)}</th>"
        for c in columns
    )
    rows = []
    for row in frame.select(columns).iter_rows():
        cells = "".join(
            f"<td{' class=kit-text' if c in text else ''}>{html.escape(_cell(v))}</td>"
            for c, v in zip(columns, row, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    more = ""
    if frame.width > MAX_COLUMNS:
        more = f"<div class='kit-note'>{frame.width - MAX_COLUMNS} more columns</div>"
    return (
        "<table class='kit-table'><thead><tr>" + head + "</tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>" + more
    )  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if hasattr(value, "isoformat"):
        text: str = value.isoformat(sep=" ", timespec="milliseconds")
        return text.replace("+00:00", "")
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


STYLE = """
<style>
.kit-table { border-collapse: collapse; font: 12px var(--jp-code-font-family, monospace); }
.kit-table th, .kit-table td { padding: 2px 8px; border-bottom: 1px solid var(--jp-border-color2, #ddd); text-align: right; white-space: nowrap; }
.kit-table td.kit-text, .kit-table th.kit-text, .kit-schema td { text-align: left; }
.kit-table th { position: sticky; top: 0; background: var(--jp-layout-color1, #fff); }
.kit-bad { color: #b00020; }
.kit-new { background: var(--jp-warn-color3, #fff3c4); border-radius: 3px; padding: 0 3px; }
.kit-empty, .kit-note { color: #777; font-style: italic; }
</style>
"""


class Peek(Job):
    """A live table of a tap's newest rows (an ipywidgets box).

    Stopping it (Stop button, :meth:`stop`, ``%stream stop``) also stops its
    tap. Display it with ``display(peek)`` or as a cell's last expression.
    """

    kind = "peek"

    def __init__(self, tap: Tap, *, rows: int = 20, refresh: float = 0.25) -> None:
        import ipywidgets as widgets

        super().__init__(f"peek:{tap.topic}")
        self.tap = tap
        self.rows = rows
        self.refresh = refresh
        self.redraws = 0
        self._first_fields: set[str] | None = None
        self._new_fields: list[str] = []
        self.status = widgets.HTML()
        self.pause_button = widgets.ToggleButton(
            value=False,
            description="Pause",
            icon="pause",
            tooltip="Freeze the table",
            layout=widgets.Layout(width="auto"),
        )
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            tooltip="Stop",
            layout=widgets.Layout(width="auto"),
        )
        self.table = widgets.HTML(STYLE + render_table(tap.snapshot(0)))
        self.schema = widgets.HTML()
        details = widgets.Accordion(children=[self.schema], titles=("Schema",))
        details.selected_index = None
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.status, self.pause_button, self.stop_button]),
                widgets.Box(
                    [self.table],
                    layout=widgets.Layout(overflow="auto", max_height="420px"),
                ),
                details,
            ]
        )
        self.pause_button.observe(self._on_pause, names="value")
        self.stop_button.on_click(lambda _button: self.stop())

    @property
    def paused(self) -> bool:
        return bool(self.pause_button.value)

    def _on_pause(self, change: dict[str, Any]) -> None:
        self.pause_button.description = "Resume" if change["new"] else "Pause"
        self.pause_button.icon = "play" if change["new"] else "pause"
        self._draw_status()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ..headless import is_headless

        if is_headless():  # no frontend: the final state, as static HTML
            schema = self.tap.decoder.schema
            new = f", {len(self._new_fields)} new" if self._new_fields else ""
            details = (
                f"<details><summary>Schema: {len(schema)} fields{new}</summary>"
                f"{self.schema.value}</details>"
            )
            return {
                "text/html": self.status.value + "<br>" + self.table.value + details
            }
        return self.widget._repr_mimebundle_(**kwargs)

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        self.tap.stop(timeout)
        self._draw_status()
        self.pause_button.disabled = True
        self.stop_button.disabled = True

    def _run(self) -> None:
        seen = -1
        try:
            while not self._stop.is_set() and (
                self.tap.running or self.tap.version != seen
            ):
                if not self.paused and self.tap.version != seen:
                    seen = self.tap.version
                    self._draw()
                else:
                    self._draw_status()
                self._stop.wait(self.refresh)
        finally:
            self.tap.stop()
            self._draw()

    # drawing -----------------------------------------------------------------
    def _draw(self) -> None:
        # The newest rows by record time, not by arrival: partitions arrive
        # in batches of their own.
        frame = self.tap.snapshot()
        order = [
            c for c in ("_timestamp", "_partition", "_offset") if c in frame.columns
        ]
        frame = frame.sort(order).tail(self.rows) if order else frame.tail(self.rows)
        schema = self.tap.decoder.schema
        if self._first_fields is None and schema:
            self._first_fields = set(schema)
        elif self._first_fields is not None:
            self._new_fields = [f for f in schema if f not in self._first_fields]
        self.table.value = STYLE + render_table(frame)
        self.schema.value = self._schema_html(schema)
        self.redraws += 1
        self._draw_status()

    def _draw_status(self) -> None:
        tap = self.tap
        if tap.running:
            state = "‖ paused" if self.paused else "● live"
        else:
            state = "■ stopped" if tap.error is None else f"✖ failed: {tap.error}"
        parts = [
            f"<b>{html.escape(tap.topic)}</b>",
            html.escape(state),
            "… msg/s" if tap.rate is None else f"{tap.rate:,.0f} msg/s",
            f"{tap.total:,} seen",
        ]
        problem = tap.connection_problem
        if problem:
            parts.append(f"<span class='kit-bad'>⚠ {html.escape(problem)}</span>")
        if tap.bad:
            last = html.escape(tap.last_error or "")
            parts.append(f"<span class='kit-bad'>{tap.bad:,} bad · last: {last}</span>")
        if self._new_fields:
            parts.append(f"{len(self._new_fields)} new field(s)")
        self.status.value = " · ".join(parts)

    def _schema_html(self, schema: dict[str, Any]) -> str:
        rows = []
        for name, dtype in schema.items():
            badge = (
                " <span class='kit-new'>new</span>" if name in self._new_fields else ""
            )
            rows.append(
                f"<tr><td>{html.escape(name)}{badge}</td><td>{html.escape(str(dtype))}</td></tr>"
            )
        return (
            STYLE + "<table class='kit-table kit-schema'>" + "".join(rows) + "</table>"
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.tap.describe(), "kind": self.kind}


def peek(
    topic: str,
    *,
    start: Any = "latest",
    rows: int | None = None,
    buffer: int | None = None,
    format: str = "json",
    max_bytes: int | None = None,
    count: int | None = None,
    duration: float | None = None,
    idle: float | None = None,
    refresh: float | None = None,
    connection: Connection | None = None,
) -> Peek:
    """A live table of the newest ``rows`` records of ``topic``.

    It runs in the background (the kernel stays free) until its Stop button,
    ``peek.stop()`` or ``%stream stop``; or after ``count`` records or
    ``duration`` seconds, or ``idle`` seconds without a record, when given.
    ``rows``, ``buffer`` (rows kept), ``max_bytes`` and ``refresh`` default
    to the kit's settings (``peek_rows`` 20, ``buffer_rows`` 1000,
    ``max_bytes`` 1,000,000, ``refresh`` 0.25 s; see ``kit.config()``).

    >>> kit.peek("telemetry", start="-1m")   # doctest: +SKIP
    """
    from .._config import config
    from ..headless import DEFAULT_SECONDS, is_headless
    from .tap import Tap

    settings = config()
    rows = settings.peek_rows if rows is None else rows
    buffer = settings.buffer_rows if buffer is None else buffer
    max_bytes = settings.max_bytes if max_bytes is None else max_bytes
    refresh = settings.refresh if refresh is None else refresh
    headless = is_headless()
    if headless and count is None and duration is None and idle is None:
        duration = DEFAULT_SECONDS
    tap = Tap(
        topic,
        start=start,
        rows=max(buffer, rows),
        format=format,
        max_bytes=max_bytes,
        count=count,
        duration=duration,
        idle=idle,
        connection=connection,
    )
    view = Peek(tap, rows=rows, refresh=refresh)
    tap.start()
    view.start()
    if headless:
        view.wait()  # the saved notebook keeps the final table
    return view
