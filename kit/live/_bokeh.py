"""Bokeh in the notebook for the live plots: BokehJS loaded once (inline,
only the parts the plots use), the widget model that tells a plot when the
browser has drawn it and ignores the browser's echoes, and PNG snapshots
through headless Chromium."""

from __future__ import annotations

from typing import Any

from .._errors import KitError

__all__ = [
    "add_series",
    "html_to_png",
    "kit_bokeh_model",
    "load_bokehjs",
    "make_figures",
]

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
_BOKEH_LOADED = False


def make_figures(
    x: str,
    y: list[str],
    *,
    title: str | None,
    height: int | None,
    width: int,
    overlay: bool,
    window: float | int,
    time_axis: bool,
) -> list[Any]:
    """One figure per y (x ranges linked), or one for all with ``overlay``;
    legends beside the plot, hover tools showing each series' values, and a
    time ``window`` (float seconds) that the x range follows."""
    from bokeh.models import HoverTool
    from bokeh.models.annotations import Legend
    from bokeh.plotting import figure

    figure_height = height or (260 if not overlay and len(y) > 1 else 340)
    figures = []
    x_range: Any = None
    for i, name_y in enumerate([", ".join(y)] if overlay else y):
        options: dict[str, Any] = {} if x_range is None else {"x_range": x_range}
        fig = figure(
            title=(title if i == 0 and title else name_y)
            if not overlay
            else (title or name_y),
            height=figure_height,
            width=width,
            x_axis_type="datetime" if time_axis else "linear",
            **options,
            tools="pan,xwheel_zoom,box_zoom,reset,save",
            toolbar_location="right",
        )
        # Beside the plot, not over the newest data; click hides a series.
        fig.add_layout(
            Legend(
                click_policy="hide", location="top_left", label_text_font_size="9pt"
            ),
            "right",
        )
        fig.add_tools(
            HoverTool(
                tooltips=[
                    ("series", "@__series"),
                    (x, "@x{%F %T.%3N}" if time_axis else "@x"),
                    # the data value(s) of this figure, not the cursor's y
                    *[(name, f"@{{{name}}}") for name in (y if overlay else [y[i]])],
                ],
                formatters={"@x": "datetime"} if time_axis else {},
            )
        )
        if x_range is None:
            x_range = fig.x_range
            if isinstance(window, float):
                x_range.follow = "end"
                x_range.follow_interval = window * 1000 if time_axis else window
                x_range.range_padding = 0
        figures.append(fig)
    return figures


def add_series(
    figures: list[Any], source: Any, key: str, y: list[str], kind: str, index: int
) -> None:
    """Draw the series ``key`` (the ``index``-th) from ``source`` in every
    figure, as ``kind`` (line, scatter or step), its legend kept in order."""
    color = PALETTE[index % len(PALETTE)]
    for i, fig in enumerate(figures):
        for j, name in enumerate(y if len(figures) == 1 else [y[i]]):
            label = key if len(y) == 1 or len(figures) > 1 else f"{key} {name}"
            shade = (
                color
                if len(figures) > 1
                else PALETTE[(index * len(y) + j) % len(PALETTE)]
            )
            if kind == "scatter":
                fig.scatter(
                    "x", name, source=source, color=shade, legend_label=label, size=4
                )
            elif kind == "step":
                fig.step(
                    "x",
                    name,
                    source=source,
                    color=shade,
                    legend_label=label,
                    mode="after",
                )
            else:
                fig.line(
                    "x",
                    name,
                    source=source,
                    color=shade,
                    legend_label=label,
                    line_width=1.5,
                )
        legend: Any = fig.legend[0]
        # Keys in order, whatever order they arrived in.
        legend.items = sorted(legend.items, key=_legend_label)


def _legend_label(item: Any) -> str:
    label = item.label
    value = getattr(label, "value", None)
    if value is None and isinstance(label, dict):
        value = label.get("value")
    return str(value if value is not None else label)


def _resources() -> Any:
    """BokehJS inline (the CDN default fails offline), only the parts the
    kit's plots use: 1.3 MB instead of 3.9 MB with widgets, tables, WebGL and
    MathJax, which a saved notebook would otherwise carry."""
    from bokeh.resources import Resources

    return Resources(mode="inline", components=["bokeh"])


def load_bokehjs() -> None:
    """Load BokehJS into the notebook, once.

    Headless, it is loaded once for the saved notebook's HTML (nbconvert's
    report), not a second time for JupyterLab's Bokeh renderer: the same
    1.3 MB twice is what made a demo notebook 8 MB.
    """
    global _BOKEH_LOADED
    if _BOKEH_LOADED:
        return
    from bokeh.io import notebook, output_notebook

    from ..headless import is_headless

    publish = notebook.publish_display_data
    if is_headless():

        def publish_once(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            data = {k: v for k, v in data.items() if k != notebook.LOAD_MIME_TYPE}
            publish(data, *args, **kwargs)

        notebook.publish_display_data = publish_once
    try:
        output_notebook(resources=_resources(), hide_banner=True)
    finally:
        notebook.publish_display_data = publish
    _BOKEH_LOADED = True


#: Browser-side changes the kernel accepts from a plot: view state only. The
#: browser echoes back every change it applied from the kernel (lines, legend
#: items, streamed data); applying those stale copies would detach series.
_VIEW_ATTRS = frozenset(
    {
        "start",
        "end",
        "visible",
        "muted",
        "inner_width",
        "inner_height",
        "outer_width",
        "outer_height",
    }
)
_MODEL_CLASS: Any = None


def kit_bokeh_model(base: Any) -> Any:
    """A jupyter_bokeh ``BokehModel`` that ignores the browser's echoes and
    tells its plot when the browser has drawn it."""
    global _MODEL_CLASS
    if _MODEL_CLASS is not None:
        return _MODEL_CLASS

    class KitBokehModel(base):  # type: ignore[misc]
        kit_plot: Any = None

        def _sync_model(
            self, model: Any, content: dict[str, Any], buffers: list[Any]
        ) -> None:
            plot = self.kit_plot
            if plot is not None:
                plot._shown.set()
            if content.get("event") != "jsevent":
                return
            kind = content.get("kind")
            if kind in ("ColumnsStreamed", "ColumnsPatched"):
                return
            if kind == "ModelChanged" and content.get("attr") not in _VIEW_ATTRS:
                return
            if plot is None:
                super()._sync_model(model, content, buffers)
                return
            with plot._document:
                super()._sync_model(model, content, buffers)

    _MODEL_CLASS = KitBokehModel
    return KitBokehModel


def html_to_png(html: str, path: str, *, width: int) -> None:
    """Render ``html`` in headless Chromium and screenshot it.

    Runs in a thread of its own: Playwright's sync API refuses to run where an
    asyncio loop is running (as in every Jupyter kernel).
    """
    import os
    import tempfile
    import threading

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise KitError(
            "Saving a PNG needs playwright and Chromium: `pip install playwright` and "
            "Chromium at /usr/bin/chromium (or KIT_CHROMIUM); or save as .html."
        ) from None
    executable = os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium")
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as handle:
        handle.write(html)
    errors: list[BaseException] = []

    def render() -> None:
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=executable,
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update"],
                )  # fmt: skip
                page = browser.new_page(viewport={"width": width, "height": 600})
                page.goto(f"file://{handle.name}")
                page.wait_for_selector(".bk-Canvas, .bk-root, canvas", timeout=15000)
                page.wait_for_timeout(500)
                page.screenshot(path=path, full_page=True)
                browser.close()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=render, name="kit-png")
    thread.start()
    thread.join()
    os.unlink(handle.name)
    if errors:
        raise errors[0]
