"""Live plot, Python side: a LivePlot fed 50,000 points/s for minutes.

Builds the live plot ``%stream plot`` builds (speed and rpm by car, 3 cars, a
30 s time window, 900 px wide) with its widget created, so every update goes
through jupyter_bokeh's BokehModel (a PATCH-DOC message per ``stream`` call;
without a kernel the comm is a no-op, so the figures are the Python cost only).
A loop pushes 100 ms of synthetic telemetry (``--rate`` points/s, default
50,000) and calls ``flush()`` 10 times a second, as the plot's own thread does,
while a sampler records the process RSS every 5 s.

Prints one JSON line: points/s pushed (sustained), points/s sent to Bokeh after
decimation, updates/s, flush time percentiles, the span of the time window
each series still holds, and RSS first/last/max with ``rss_flat`` (the last
sample within 10% of the first one after the 30 s warm-up; in ``--short`` mode
the warm-up is half the run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import statistics
import threading
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np
import polars as pl
import psutil

from kit.live.plot import LivePlot

FPS = 10
CARS = 3
WINDOW_S = 30.0
WIDTH = 900
WARM_UP_S = 30.0
SAMPLE_EVERY_S = 5.0


def make_plot() -> LivePlot:
    view = LivePlot(
        x="_timestamp", y=["speed", "rpm"], by="car", window=WINDOW_S, kind="line",
        title=None, height=None, width=WIDTH, overlay=False, max_series=20, fps=FPS,
        name="bench",
    )  # fmt: skip
    # Outside a notebook, loading BokehJS prints its repr: keep stdout for JSON.
    with contextlib.redirect_stdout(io.StringIO()):
        view.widget()
    return view


class Telemetry:
    """Synthetic telemetry for ``CARS`` cars, ``rate`` points/s in all."""

    def __init__(self, rate: int, seed: int = 7) -> None:
        self.rate = rate
        self.rng = np.random.default_rng(seed)
        self.cars = np.array([str(i + 1) for i in range(CARS)])

    def frame(self, start_ms: float, span_ms: float) -> pl.DataFrame:
        n = max(1, round(self.rate * span_ms / 1000))
        t = start_ms + np.arange(n) * (span_ms / n)
        car = np.arange(n) % CARS
        phase = t / 1000 * 2 * math.pi / 7 + car
        speed = 200 + 120 * np.sin(phase) + self.rng.normal(0, 2, n)
        rpm = 4000 + 8000 * ((t / 1000 + car) % 1.7) / 1.7 + self.rng.normal(0, 50, n)
        return pl.DataFrame(
            {
                "_timestamp": pl.Series(t.astype(np.int64)).cast(
                    pl.Datetime("ms", "UTC")
                ),
                "car": self.cars[car],
                "speed": speed,
                "rpm": rpm,
            }
        )


def sample_rss(
    stop: threading.Event, started: float, samples: list[tuple[float, float]]
) -> None:
    process = psutil.Process()
    while True:
        samples.append(
            (round(time.monotonic() - started, 1), process.memory_info().rss / 2**20)
        )
        if stop.wait(SAMPLE_EVERY_S):
            return


def run(seconds: float, rate: int) -> dict[str, Any]:
    view = make_plot()
    feed = Telemetry(rate)
    interval = 1.0 / FPS
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(
        target=sample_rss, args=(stop, started, samples), daemon=True
    )
    sampler.start()
    clock_ms = datetime.now(timezone.utc).timestamp() * 1000
    pushed = 0
    flush_ms: list[float] = []
    next_tick = started
    while True:
        now = time.monotonic()
        if now - started >= seconds:
            break
        frame = feed.frame(clock_ms, interval * 1000)
        clock_ms += interval * 1000
        view.push(frame)
        pushed += frame.height
        t0 = time.perf_counter()
        view.flush()
        flush_ms.append((time.perf_counter() - t0) * 1000)
        next_tick += interval
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:  # behind: catch up without sleeping, but do not bank lost time
            next_tick = time.monotonic()
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()

    rss = [mib for _, mib in samples]
    warm_up = WARM_UP_S if seconds > 2 * WARM_UP_S else seconds / 2
    baseline = next((mib for t, mib in samples if t >= warm_up), rss[-1])
    spans = {
        key: (max(src.data["x"]) - min(src.data["x"])) / 1000
        for key, src in view.sources.items()
        if len(src.data["x"])
    }
    ordered = sorted(flush_ms)
    return {
        "seconds": round(elapsed, 1),
        "target_points_per_s": rate,
        "points_per_s": round(pushed / elapsed),
        "sent_to_bokeh_points_per_s": round(view.points / elapsed),
        "updates_per_s": round(view.updates / elapsed, 2),
        "flush_ms_p50": round(statistics.median(ordered), 2),
        "flush_ms_p99": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        "flush_ms_max": round(ordered[-1], 2),
        "series": len(view.sources),
        "points_per_series": {k: len(s.data["x"]) for k, s in view.sources.items()},
        "window_s": WINDOW_S,
        "window_held_s": {k: round(v, 1) for k, v in spans.items()},
        "rss_first_mib": round(rss[0], 1),
        "rss_after_warm_up_mib": round(baseline, 1),
        "rss_last_mib": round(rss[-1], 1),
        "rss_max_mib": round(max(rss), 1),
        "rss_flat": abs(rss[-1] - baseline) <= 0.10 * baseline,
        "rss_mib_series": [[t, round(mib, 1)] for t, mib in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--rate", type=int, default=50_000, help="points/s pushed")
    parser.add_argument("--short", action="store_true", help="20 seconds")
    args = parser.parse_args()
    print(json.dumps(run(20.0 if args.short else args.seconds, args.rate)))


if __name__ == "__main__":
    main()
