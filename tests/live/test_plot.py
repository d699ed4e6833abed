"""Live plots: the data path (no browser; tests/browser checks the page)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

import kit
from kit.live.decimate import min_max_per_bucket
from kit.live.plot import LivePlot


def _frame(
    n: int, cars: int = 3, start: datetime | None = None, step_ms: int = 4
) -> pl.DataFrame:
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    return pl.DataFrame(
        {
            "_timestamp": [
                start + timedelta(milliseconds=i * step_ms) for i in range(n)
            ],
            "car": [str(i % cars) for i in range(n)],
            "speed": [float(i % 300) for i in range(n)],
            "rpm": [10000.0 + i % 500 for i in range(n)],
        }
    )


def _plot(**kw: object) -> LivePlot:
    options: dict[str, object] = dict(
        x="_timestamp", y=["speed", "rpm"], by="car", window=30.0, kind="line", title=None,
        height=None, width=600, overlay=False, max_series=20, fps=10, name="t",
    )  # fmt: skip
    options.update(kw)
    return LivePlot(**options)  # type: ignore[arg-type]


def test_one_series_per_key_and_one_figure_per_y() -> None:
    view = _plot()
    view.push(_frame(30, step_ms=200))  # sparser than the pixel columns: no decimation
    view.flush()
    assert sorted(view.sources) == ["0", "1", "2"]
    assert len(view.figures) == 2
    assert all(len(s.data["x"]) == 10 for s in view.sources.values())
    assert view.figures[1].x_range is view.figures[0].x_range  # linked
    overlaid = _plot(overlay=True)
    overlaid.push(_frame(30))
    overlaid.flush()
    assert len(overlaid.figures) == 1


def test_missing_values_are_gaps_not_zeros() -> None:
    """BokehJS draws null as 0: a missing value goes to the browser as NaN."""
    import math

    view = _plot(y=["bpm"], by=None, window=1000)
    view.push(_frame(3).with_columns(bpm=pl.Series([None, 97.5, 101.0])))
    view.flush()
    values = view.sources["all"].data["bpm"]
    assert math.isnan(values[0]) and values[1:] == [97.5, 101.0]


def test_new_keys_appear_and_the_cap_is_explained() -> None:
    view = _plot(max_series=2)
    view.widget()
    view._shown.set()  # the browser drew it (its first message)
    view.push(_frame(30, cars=4))
    view.flush()
    assert sorted(view.sources) == ["0", "1"]
    assert view.dropped_series == {"2", "3"}
    assert "Showing 2 series; 2 more keys" in view.note.value  # type: ignore[union-attr]


def test_rows_window_rolls_over() -> None:
    view = _plot(window=50, by=None, y=["speed"])
    for i in range(10):
        view.push(
            _frame(
                40,
                start=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i),
            )
        )
        view.flush()
    (source,) = view.sources.values()
    assert len(source.data["x"]) == 50


def test_time_window_is_decimated_and_keeps_spikes() -> None:
    # 30 s at 250 Hz = 7,500 points for a 600 px wide plot.
    frame = _frame(7500, cars=1, step_ms=4).with_columns(
        speed=pl.when(pl.int_range(pl.len()) == 4321)
        .then(9999.0)
        .otherwise(pl.col("speed"))
    )
    view = _plot(y=["speed"], by=None)
    view.push(frame)
    view.flush()
    (source,) = view.sources.values()
    assert len(source.data["x"]) <= 3 * 600
    assert max(source.data["speed"]) == 9999.0  # the one-sample spike survived
    assert min(source.data["speed"]) == 0.0


def test_min_max_per_bucket_keeps_order_and_extremes() -> None:
    frame = _frame(1000, cars=1)
    out = min_max_per_bucket(frame, "_timestamp", ["speed", "rpm"], 100.0)
    assert out["_timestamp"].is_sorted()
    assert (
        out["speed"].max() == frame["speed"].max()
        and out["rpm"].min() == frame["rpm"].min()
    )
    assert out.height < frame.height


def test_pause_buffers_and_clear_empties() -> None:
    view = _plot(y=["speed"])
    view.widget()
    view._shown.set()  # the browser drew it (its first message)
    view.paused = True
    view.push(_frame(30, step_ms=200))
    assert view.flush() == 0 and not view.sources
    view.paused = False
    assert view.flush() == 30
    view.sources["0"].data = {k: [] for k in view.sources["0"].data}
    assert view.sources["0"].data["x"] == []


def test_throttled_to_fps_whatever_the_input_rate() -> None:
    view = _plot(y=["speed"], fps=10)
    view.widget()  # shown: updates flow
    view._shown.set()  # the browser drew it (its first message)
    view.start()
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        view.push(_frame(50))  # ~1,000 pushes a second
        time.sleep(0.001)
    view.stop()
    assert view.updates <= 12
    assert view.points > 0


def test_live_plot_of_a_topic(connection: kit.Connection, topic_name: str) -> None:
    producer = kit.demo(topic_name, rate=300, duration=3, connection=connection)
    view = kit.plot(
        topic_name, y=["speed", "rpm"], by="car", window="10s", start="earliest"
    )
    view.widget()  # as a notebook displays it
    view._shown.set()  # the browser drew it (its first message)
    try:
        deadline = time.monotonic() + 10
        while len(view.sources) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        producer.wait(10)
        time.sleep(0.5)
        assert view.received == producer.sent
    finally:
        view.stop()
        connection.delete_topics([topic_name])
    assert not view.tap.running  # type: ignore[attr-defined]


def test_save_html_and_png(tmp_path: Path) -> None:
    view = kit.plot(_frame(300), y="speed", by="car", window=1000)
    html = Path(view.save(str(tmp_path / "plot.html"))).read_text()
    assert "Bokeh" in html and "cdn.bokeh.org" not in html  # inline, works offline
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("no /usr/bin/chromium")
    png = Path(view.save(str(tmp_path / "plot.png")))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_headless_plot_collects_then_renders_static(
    connection: kit.Connection, topic_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_HEADLESS", "1")
    producer = kit.demo(topic_name, rate=200, duration=2, connection=connection)
    started = time.monotonic()
    view = kit.plot(topic_name, y="speed", by="car", duration=2.0)
    assert time.monotonic() - started >= 1.9  # it collected for its bounded duration
    assert not view.running and view.points > 0
    bundle = view._repr_mimebundle_()
    assert "text/html" in bundle and "Bokeh" in bundle["text/html"]
    producer.stop()
    connection.delete_topics([topic_name])


def test_nothing_is_streamed_before_the_plot_is_shown() -> None:
    view = _plot(y=["speed"], fps=50)
    view.start()
    view.push(_frame(30, step_ms=200))
    time.sleep(0.2)
    assert view.updates == 0 and not view.sources  # buffered, not lost
    view.widget()
    view._shown.set()  # the browser drew it (its first message)
    deadline = time.monotonic() + 5
    while view.points < 30:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    view.stop()


def test_unknown_kind_names_the_choices() -> None:
    with pytest.raises(
        ValueError,
        match=r"kind='bar' is not a plot kind; choose one of line, scatter, step",
    ):
        _plot(kind="bar")


def test_a_long_pause_keeps_one_window_not_everything() -> None:
    """Paused for long at a high rate: memory stays bounded by what the plot
    shows, and resuming draws the newest window with its extremes."""
    view = _plot(y=["speed"], window=30.0, width=600)
    view.widget()
    view._shown.set()
    view.paused = True
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for second in range(0, 300, 10):  # 5 minutes at 500 points/s, 3 cars
        view.push(_frame(5000, start=start + timedelta(seconds=second), step_ms=2))
        view.flush()
        held = sum(f.height for f in view._pending)
        assert held <= view._pause_limit() + 5000
    assert view.received == 150_000
    view.paused = False
    assert view.flush() > 0
    newest = start + timedelta(seconds=290, milliseconds=2 * 4999)
    for source in view.sources.values():
        xs = source.data["x"]
        assert max(xs) >= newest.timestamp() * 1000 - 10
        # older data was cut (what arrived since the last cut may add a bit)
        assert min(xs) >= (newest - timedelta(seconds=60)).timestamp() * 1000
        assert len(xs) <= 3 * 600 + 10


def test_a_rows_window_pause_keeps_the_last_rows_per_key() -> None:
    view = _plot(y=["speed"], window=100, width=600)
    view.paused = True
    for i in range(10):
        view.push(
            _frame(
                30_000,
                start=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i),
            )
        )
        view.flush()
    assert sum(f.height for f in view._pending) <= view._pause_limit() + 30_000
    view.paused = False
    view.flush()
    assert sorted(view.sources) == ["0", "1", "2"]
    assert all(len(s.data["x"]) == 100 for s in view.sources.values())


def test_legend_beside_the_plot_in_key_order() -> None:
    view = _plot(y=["speed"])
    frame = _frame(30, cars=3).with_columns(
        car=pl.col("car").replace({"0": "c", "1": "a", "2": "b"})
    )
    view.push(frame.reverse())
    view.flush()
    view.push(frame.with_columns(car=pl.lit("0-first")))
    view.flush()
    (fig,) = view.figures
    assert fig.legend[0] in fig.right  # not over the data
    labels = [item.label.value for item in fig.legend[0].items]
    assert labels == ["0-first", "a", "b", "c"]
    # The keys that arrived together got their colours in key order.
    colors = {r.glyph.line_color: r.data_source for r in fig.renderers}
    from kit.live._bokeh import PALETTE

    assert colors[PALETTE[0]] is view.sources["a"]
    assert colors[PALETTE[2]] is view.sources["c"]


def test_window_slider_offers_round_lengths_and_the_plot_s_own() -> None:
    view = _plot(window=45.0)
    box = view.widget()
    (slider,) = [w for w in box.children[0].children if hasattr(w, "options")]
    labels = [label for label, _ in slider.options]
    assert "45 s" in labels and "1 min" in labels and "1 h" in labels
    assert slider.value == 45.0
    slider.value = 300.0
    assert view.window == 300.0
    assert view.figures[0].x_range.follow_interval == 300_000
