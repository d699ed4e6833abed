"""Live Bokeh plots of streaming data: ``kit.plot`` and ``%stream plot``.

One figure per y (x axes linked) or one overlaid figure; one coloured series
per ``by`` value, added as keys arrive (up to ``max_series``). Built on
jupyter_bokeh's ``BokehModel`` and ``ColumnDataSource.stream(rollover=...)``;
BokehJS is loaded inline once per notebook (the CDN default fails offline).

The browser is updated at most ``fps`` (10) times a second whatever the input
rate, with all points since the last update in one ``stream`` call per
series. A time window wider than the screen is decimated to the minimum and
maximum of each pixel column, so spikes survive. Headless (``KIT_HEADLESS=1``,
as under papermill), a plot collects for its bounded duration and leaves a
static snapshot of the final window instead.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any

from .. import _session
from .._errors import ConfigurationError
from .._jobs import Job
from .._time import parse_duration
from ._bokeh import add_series, html_to_png, kit_bokeh_model, load_bokehjs, make_figures
from ._controls import plot_controls
from .decimate import min_max_per_bucket

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection
    from .tap import Tap

__all__ = ["LivePlot", "plot"]

KINDS = ("line", "scatter", "step")


class LivePlot(Job):
    """A live (or static) plot; see :func:`plot`.

    Attributes:
        points: points sent to the browser so far (after decimation).
        received: rows received from the source so far.
        updates: browser updates so far.
        sources: per series key, the ``ColumnDataSource``.
    """

    kind = "plot"

    def __init__(
        self,
        *,
        x: str,
        y: list[str],
        by: str | None,
        window: float | int,
        kind: str,
        title: str | None,
        height: int | None,
        width: int,
        overlay: bool,
        max_series: int,
        fps: float,
        name: str,
    ) -> None:
        from bokeh.layouts import column

        if kind not in KINDS:
            raise ConfigurationError(
                f"kind={kind!r} is not a plot kind; choose one of {', '.join(KINDS)}."
            )
        super().__init__(f"plot:{name}")
        self.x, self.y, self.by = x, y, by
        self.window = window
        self.kind_of_plot = kind
        self.width = width
        self.max_series = max_series
        self.fps = fps
        self.points = self.received = self.updates = 0
        self.dropped_series: set[str] = set()
        self.paused = False
        self.sources: dict[str, Any] = {}
        self._pending: collections.deque[pl.DataFrame] = collections.deque()
        self._lock = threading.Lock()
        # Held while the document is shown or changed: a stream() racing the
        # BokehModel's creation would never reach the browser.
        self._document = threading.RLock()
        self._shown = threading.Event()
        self._last_draw = 0.0
        time_axis = x in ("_timestamp", "timestamp", "ts", "time", "datetime")
        self._time_axis = time_axis
        self.figures = make_figures(
            x, y, title=title, height=height, width=width, overlay=overlay,
            window=window, time_axis=time_axis,
        )  # fmt: skip
        self.layout = column(*self.figures)
        self.note = None
        self._model: Any = None

    # data in -------------------------------------------------------------------
    def push(self, frame: pl.DataFrame) -> None:
        """Queue rows for the next update (thread-safe; any thread)."""
        if frame.height:
            with self._lock:
                self._pending.append(frame)
                self.received += frame.height

    def _on_batch(self, tap: Tap, frame: pl.DataFrame) -> None:
        self.push(frame)

    # drawing ---------------------------------------------------------------------
    def _series(self, key: str) -> Any:
        from bokeh.models import ColumnDataSource

        source = self.sources.get(key)
        if source is not None:
            return source
        if len(self.sources) >= self.max_series:
            self.dropped_series.add(key)
            return None
        source = ColumnDataSource({"x": [], "__series": [], **{y: [] for y in self.y}})
        add_series(
            self.figures, source, key, self.y, self.kind_of_plot, len(self.sources)
        )
        self.sources[key] = source
        return source

    def _rollover(self) -> int:
        if isinstance(self.window, int):
            return self.window
        # Each pixel column keeps its first row and each y's min and max; a
        # flush boundary can split a column, once per update.
        per_column = 1 + 2 * len(self.y)
        return int(per_column * (self.width + self.fps * self.window))

    def _pause_limit(self) -> int:
        """Rows a pause may hold before they are cut to what the plot shows."""
        return max(20_000, 4 * self._rollover() * max(1, len(self.sources)))

    def _series_frames(self, frames: list[pl.DataFrame]) -> dict[str, pl.DataFrame]:
        """Queued rows as one frame per series, sorted by x: x, the y columns
        (Float64; a missing one all null) and the key column. Empty when the
        rows have no x or no y."""
        import polars as pl

        frame = pl.concat(frames, how="diagonal_relaxed")
        columns = [c for c in (self.x, *self.y) if c in frame.columns]
        if self.x not in frame.columns or len(columns) < 2:
            return {}
        keyed = self.by is not None and self.by in frame.columns
        frame = frame.select([*columns, *([self.by] if keyed else [])])
        frame = frame.with_columns(
            [
                pl.col(y).cast(pl.Float64, strict=False)
                for y in self.y
                if y in frame.columns
            ]
        )
        for y in self.y:
            if y not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(y))
        frame = frame.sort(self.x)
        if not keyed:
            return {"all": frame}
        return {
            str(key[0]): part
            for key, part in frame.partition_by(str(self.by), as_dict=True).items()
        }

    def _decimate(self, part: pl.DataFrame) -> pl.DataFrame:
        """A time window's series cut to min/max per pixel column."""
        if not isinstance(self.window, float):
            return part
        span = self.window * (1000 if self._time_axis else 1)
        return min_max_per_bucket(part, self.x, self.y, span / self.width)

    def _trim_to_window(self, frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
        """What a paused plot would show on resume, and no more: the last
        window (decimated per pixel column) of each series."""
        import polars as pl

        parts = self._series_frames(frames)
        if not parts:
            return frames
        if isinstance(self.window, int):
            return [part.tail(self.window) for part in parts.values()]
        span = self.window * (1000 if self._time_axis else 1)
        newest = max(part[self.x].max() for part in parts.values())  # type: ignore[type-var]
        if isinstance(next(iter(parts.values())).schema[self.x], pl.Datetime):
            cutoff = pl.lit(newest) - pl.duration(milliseconds=span)
        else:
            cutoff = pl.lit(newest) - span
        return [
            self._decimate(part.filter(pl.col(self.x) >= cutoff))
            for part in parts.values()
        ]

    def flush(self) -> int:
        """Send what is queued to the browser (one ``stream`` per series)."""
        with self._document:
            return self._flush()

    def _flush(self) -> int:
        import polars as pl

        with self._lock:
            frames = list(self._pending)
            self._pending.clear()
        if not frames or self.paused:
            if self.paused and frames:
                if sum(f.height for f in frames) > self._pause_limit():
                    frames = self._trim_to_window(frames)
                with self._lock:
                    self._pending.extendleft(reversed(frames))
            return 0
        parts = self._series_frames(frames)
        if not parts:
            return 0
        sent = 0
        # Sorted: keys that arrive together get their colours in key order.
        for name, part in sorted(parts.items()):
            source = self._series(name)
            if source is None:
                continue
            part = self._decimate(part)
            xs = part[self.x]
            if isinstance(xs.dtype, pl.Datetime):
                xs = xs.dt.epoch("ms")
            data = {"x": xs.to_list(), "__series": [name] * part.height}
            # Missing values as NaN, a gap: BokehJS draws null as 0.
            data.update({y: part[y].fill_null(float("nan")).to_list() for y in self.y})
            source.stream(data, rollover=self._rollover())
            sent += part.height
        self.points += sent
        self.updates += 1
        if self.dropped_series and self.note is not None:
            self.note.value = (
                f"Showing {self.max_series} series; {len(self.dropped_series)} more keys "
                f"({', '.join(sorted(self.dropped_series)[:5])}…) are not drawn: raise max_series."
            )
        return sent

    def _run(self) -> None:
        interval = 1.0 / self.fps
        # Points buffer until the plot is shown (or headless, drawn at the end).
        while not self._shown.is_set() and not self._stop.wait(interval):
            tap = getattr(self, "tap", None)
            if tap is not None and not tap.running:
                return  # the source ended; what it sent waits in the buffer
        while not self._stop.wait(interval):
            self.flush()
            if self._source_done():
                self.flush()
                break

    def _source_done(self) -> bool:
        tap = getattr(self, "tap", None)
        return tap is not None and not tap.running and not self._pending

    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        tap = getattr(self, "tap", None)
        if tap is not None:
            tap.stop(timeout)

    # display -----------------------------------------------------------------------
    def widget(self) -> Any:
        """The ipywidgets box: the Bokeh model plus Pause/Resume, Clear, window."""
        import ipywidgets as widgets
        from jupyter_bokeh import BokehModel

        if self._model is not None:
            return self._model
        load_bokehjs()
        self.note = widgets.HTML()
        controls = plot_controls(self)
        with self._document:
            model = kit_bokeh_model(BokehModel)(self.layout)
            model.kit_plot = self
            self._model = widgets.VBox([controls, model, self.note])
        # Updates reach the browser only once it has drawn the plot: its first
        # message says so; 3 s is the fallback for a page that never writes back.
        threading.Timer(3.0, self._shown.set).start()
        return self._model

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ..headless import is_headless

        if is_headless():
            # No frontend to update: the final window, as static HTML.
            return {"text/html": self.static().data}
        return self.widget()._repr_mimebundle_(**kwargs)

    def save(self, path: str) -> str:
        """Write the plot as it is now: ``.html`` (self-contained) or ``.png``."""
        from bokeh.embed import file_html
        from bokeh.resources import INLINE

        self.flush()
        # A standalone file gets only the BokehJS parts its models use.
        html = file_html(self.layout, INLINE, title=self.name)
        if path.endswith(".png"):
            html_to_png(html, path, width=self.width + 80)
        else:
            with open(path, "w") as handle:
                handle.write(html)
        return path

    def static(self) -> Any:
        """An IPython HTML object of the current plot (works offline)."""
        from bokeh.embed import components
        from IPython.core.display import HTML

        load_bokehjs()
        self.flush()
        script, div = components(self.layout)
        return HTML(script + div)  # type: ignore[no-untyped-call]


def plot(
    source: Any,
    *,
    x: str = "_timestamp",
    y: str | list[str] = ("speed", "rpm"),  # type: ignore[assignment]
    by: str | None = None,
    window: str | float | int = "30s",
    kind: str = "line",
    title: str | None = None,
    height: int | None = None,
    width: int = 900,
    overlay: bool = False,
    max_series: int = 20,
    fps: float = 10.0,
    start: Any = "latest",
    duration: float | None = None,
    idle: float | None = None,
    connection: Connection | None = None,
) -> LivePlot:
    """Plot a topic live, or a Polars DataFrame once.

    Args:
        source: a topic name (live), or a ``polars.DataFrame`` (static).
        x: the x column (``_timestamp``: the record time, a datetime axis).
        y: one column or several (one figure each, x linked; ``overlay``
            draws them in one figure).
        by: a column whose values each get a coloured series (e.g. ``car``).
        window: a duration (``"30s"``: the last 30 s, decimated to min/max per
            pixel column) or a number of rows per series (rollover).
        kind: ``line``, ``scatter`` or ``step``.
        max_series: more keys than this are counted, not drawn (with a note).
        fps: at most this many browser updates a second.
        start: where a live plot starts reading (as for ``%stream peek``).
        duration: stop after this many seconds (headless default: 10).
        idle: stop after this many seconds without a record.

    >>> kit.plot("telemetry", y=["speed", "rpm"], by="car", window="30s")  # doctest: +SKIP
    """

    import polars as pl

    ys = [y] if isinstance(y, str) else list(y)
    span: float | int = window if isinstance(window, int) else parse_duration(window)
    name = source if isinstance(source, str) else "frame"
    view = LivePlot(
        x=x, y=ys, by=by, window=span, kind=kind, title=title, height=height, width=width,
        overlay=overlay, max_series=max_series, fps=fps, name=name,
    )  # fmt: skip
    if isinstance(source, pl.DataFrame):
        view.push(source)
        view.flush()
        return view
    from ..headless import DEFAULT_SECONDS, is_headless

    headless = is_headless()
    if headless and duration is None and idle is None:
        duration = DEFAULT_SECONDS
    from .tap import Tap

    tap = Tap(
        source, start=start, rows=10_000, duration=duration, idle=idle,
        connection=_session.current(connection),
    )  # fmt: skip
    view.tap = tap  # type: ignore[attr-defined]
    tap.on_batch(view._on_batch)
    tap.start()
    view.start()
    if headless:
        view.wait()
        view.flush()
    return view
