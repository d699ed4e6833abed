"""A live plot's controls: Pause/Resume, Clear, and the window slider."""

from __future__ import annotations

from typing import Any

__all__ = ["plot_controls"]

_WINDOWS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)  # fmt: skip


def plot_controls(view: Any) -> Any:
    """The row of controls acting on ``view`` (a :class:`~.plot.LivePlot`):
    Pause/Resume sets ``view.paused``; Clear empties its sources; the slider
    (for a window in seconds) sets ``view.window`` and the x range."""
    import ipywidgets as widgets

    pause = widgets.ToggleButton(
        description="Pause", icon="pause", layout=widgets.Layout(width="auto")
    )
    clear = widgets.Button(
        description="Clear", icon="eraser", layout=widgets.Layout(width="auto")
    )

    def on_pause(change: dict[str, Any]) -> None:
        view.paused = bool(change["new"])
        pause.description = "Resume" if view.paused else "Pause"

    def on_clear(_button: Any) -> None:
        for source in view.sources.values():
            source.data = {k: [] for k in source.data}

    pause.observe(on_pause, names="value")
    clear.on_click(on_clear)
    controls = [pause, clear]
    if isinstance(view.window, float):
        slider = widgets.SelectionSlider(
            options=_window_choices(view.window), value=view.window,
            description="window", continuous_update=False,
        )  # fmt: skip

        def on_window(change: dict[str, Any]) -> None:
            view.window = float(change["new"])
            x_range: Any = view.figures[0].x_range
            x_range.follow_interval = view.window * (1000 if view._time_axis else 1)

        slider.observe(on_window, names="value")
        controls.append(slider)
    return widgets.HBox(controls)


def _window_choices(current: float) -> list[tuple[str, float]]:
    """Round window lengths for the slider, with the plot's own among them.

    >>> [label for label, _ in _window_choices(45)][4:8]
    ['15 s', '30 s', '45 s', '1 min']
    """
    values = sorted({float(v) for v in _WINDOWS} | {float(current)})
    return [(_seconds_label(v), v) for v in values]


def _seconds_label(seconds: float) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
