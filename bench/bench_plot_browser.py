"""Live plot, browser side: the page's JS heap under a fast 3-series live plot.

Starts JupyterLab and headless Chromium as tests/browser does, runs a notebook
that produces demo telemetry for 3 cars at ``--rate`` records/s (default
2,000) and plots speed and rpm by car over a 30 s window (the plot updates
the browser at most 10 times a second whatever the input rate), then samples
the page's JS heap every 10 s for ``--minutes`` (default 5; ``--short``: 1):
``Runtime.getHeapUsage`` over CDP, once as it is and once right after a forced
garbage collection (``HeapProfiler.collectGarbage``), the number that shows a
leak. Each sample also records the points BokehJS holds for the plot and how
many ``stream`` updates reached it.

Prints one JSON line: heap (after GC) first/min/max/last in MiB, whether the
last sample is within 20% of the first sample after the 30 s warm-up
(``heap_flat``), the same for the heap as sampled without GC, the series
drawn and how many are live (newest point under 5 s old), stream updates/s
reaching the page, the records produced per second, and the samples as
``[t s, heap after GC MiB, heap MiB, points held, live series]``.

Needs a broker: ``KIT_BROKER``, else the embedded one (started if needed, and
stopped again at the end if this script started it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests/browser/_lab.py: the harness helpers

import kit  # noqa: E402
from kit import _broker  # noqa: E402
from tests.browser._lab import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    chromium_available,
    open_notebook,
    run_all,
    screenshot,
    start_lab,
    stop_lab,
    write_notebook,
)

CARS = 3
SAMPLE_EVERY_S = 10.0
WARM_UP_S = 30.0
MIB = 2**20

# The plot's ColumnDataSources in the page: how many, how many are live, the
# points they hold. The first call also counts every ``stream`` into them from
# then on (BokehJS's ``streaming`` signal).
_PLOT_JS = """
() => {
  window.__kitStreams = window.__kitStreams ?? {count: 0, hooked: new Set()};
  const state = window.__kitStreams;
  const now = Date.now();
  let points = 0, series = 0, live = 0;
  for (const doc of (window.Bokeh?.documents ?? [])) {
    for (const model of doc.all_models) {
      if (model.type !== 'ColumnDataSource' || !('__series' in model.data)) continue;
      const xs = model.data.x ?? [];
      series += 1;
      points += xs.length;
      // Live: its newest point (record time, epoch ms) is under 5 s old.
      if (xs.length && now - xs[xs.length - 1] < 5000) live += 1;
      if (!state.hooked.has(model.id)) {
        state.hooked.add(model.id);
        model.streaming.connect(() => { state.count += 1; });
      }
    }
  }
  return {series, live, points, streams: state.count};
}
"""


def _cells(topic: str, rate: int, seconds: float) -> list[str]:
    return [
        "%load_ext kit",
        f"%stream demo telemetry --topic {topic} --rate {rate} --cars {CARS} "
        f"--for {round(seconds)}s",
        f"%stream plot {topic} --y speed,rpm --by car --window 30s",
    ]


def _produced(conn: kit.Connection, topic: str) -> int:
    from confluent_kafka import TopicPartition

    consumer = conn.consumer(enable_auto_commit=False)
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def _flat(values: list[float], warm: float) -> bool:
    return abs(values[-1] - warm) <= 0.20 * warm


def run(minutes: float, rate: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    missing = chromium_available()
    if missing:
        raise SystemExit(missing)
    already_running = _broker.running() is not None
    conn = kit.connect(os.environ.get("KIT_BROKER"))
    topic = f"bench-plot-{uuid.uuid4().hex[:8]}"
    seconds = minutes * 60
    env = dict(os.environ, KIT_BROKER=str(conn.address))
    lab = start_lab(Path(tempfile.mkdtemp(prefix="kit-bench-plot-")), env)
    samples: list[dict[str, Any]] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                page = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
                errors: list[str] = []
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e: errors.append(e.message))
                # The demo outlives the sampling: the plot is fed all along.
                name = write_notebook(
                    lab.root_dir, f"{topic}.ipynb", _cells(topic, rate, seconds + 120)
                )
                open_notebook(page, lab, name)
                if not run_all(page):
                    raise SystemExit("a notebook cell failed")
                page.locator(".bk-Canvas").first.wait_for(timeout=60_000)
                deadline = time.monotonic() + 60
                while page.evaluate(_PLOT_JS)["series"] < CARS:
                    if time.monotonic() > deadline:
                        shot = screenshot(page, "bench-plot-browser-FAILED")
                        raise SystemExit(
                            f"the plot never showed {CARS} series: "
                            f"{page.evaluate(_PLOT_JS)}; see {shot}"
                        )
                    page.wait_for_timeout(250)
                cdp = page.context.new_cdp_session(page)
                produced_0 = _produced(conn, topic)
                started = time.monotonic()
                while True:
                    at = time.monotonic() - started
                    plot = page.evaluate(_PLOT_JS)
                    raw = cdp.send("Runtime.getHeapUsage")["usedSize"]
                    cdp.send("HeapProfiler.collectGarbage")
                    after_gc = cdp.send("Runtime.getHeapUsage")["usedSize"]
                    samples.append(
                        {
                            "t": round(at, 1),
                            "heap_mib": round(after_gc / MIB, 2),
                            "heap_no_gc_mib": round(raw / MIB, 2),
                            **plot,
                        }
                    )
                    if at >= seconds:
                        break
                    page.wait_for_timeout(
                        max(0.0, (len(samples) * SAMPLE_EVERY_S - at) * 1000)
                    )
                elapsed = time.monotonic() - started
                produced = _produced(conn, topic) - produced_0
                screenshot(page, "bench-plot-browser")
            finally:
                browser.close()
    finally:
        stop_lab(lab)
        conn.delete_topics([topic])
        if not already_running and not os.environ.get("KIT_BROKER"):
            _broker.stop()

    heap = [s["heap_mib"] for s in samples]
    raw_heap = [s["heap_no_gc_mib"] for s in samples]
    warm_at = next(
        (i for i, s in enumerate(samples) if s["t"] >= WARM_UP_S), len(samples) - 1
    )
    streams = samples[-1]["streams"] - samples[0]["streams"]
    return {
        "minutes": round(elapsed / 60, 2),
        "cars": CARS,
        "produced_per_s": round(produced / elapsed),
        "series": samples[-1]["series"],
        "series_live_at_end": samples[-1]["live"],
        "browser_streams_per_s": round(streams / elapsed, 1),
        "updates_per_live_series_per_s": round(
            streams / elapsed / max(1, samples[-1]["live"]), 1
        ),
        "points_held_last": samples[-1]["points"],
        "heap_first_mib": heap[0],
        "heap_after_warm_up_mib": heap[warm_at],
        "heap_min_mib": min(heap),
        "heap_max_mib": max(heap),
        "heap_last_mib": heap[-1],
        "heap_flat": _flat(heap, heap[warm_at]),
        "heap_no_gc_min_mib": min(raw_heap),
        "heap_no_gc_max_mib": max(raw_heap),
        "heap_no_gc_flat": _flat(raw_heap, raw_heap[warm_at]),
        "console_errors": errors,
        "samples": [
            [s["t"], s["heap_mib"], s["heap_no_gc_mib"], s["points"], s["live"]]
            for s in samples
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=2000, help="records/s")
    parser.add_argument("--short", action="store_true", help="1 minute")
    args = parser.parse_args()
    print(json.dumps(run(1.0 if args.short else args.minutes, args.rate)))


if __name__ == "__main__":
    main()
