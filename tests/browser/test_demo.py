"""README command 1 in a real browser: ``kit demo --no-browser``, the printed
URL opened in Chromium, every cell of the quickstart run.

Checks the issue's "done when": live data (rows in the peek table) within 5 s
of the notebook opening, measured from the moment the notebook is open with an
idle kernel (the user can run it: Run All here) to the moment the browser
shows the rows; the live plot's first points are measured too. Also checks
that the notebook's ``%stream demo telemetry`` uses kit demo's producer (no
second producer), and that SIGTERM leaves no process behind.

Screenshots (1280x800) in tests/browser/artifacts: ``demo-first-open.png``
(the Streams panel opens by itself the first time), ``demo-notebook.png``
(just opened), ``demo-peek.png`` and ``demo-live-plot.png`` (the README's
picture). After Run All: no cell wrote to stderr, and the peek, the plot and
the chain are still live.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._lab import (
    DEMO_URL,
    KitDemo,
    alive,
    console_errors,
    isolated_jupyter_env,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

LIVE_WITHIN = 5.0  # seconds from the notebook opening to rows in the peek
PLOT_WITHIN = 20.0  # ... to points in the live plot (measured: ~6-9 s)
VIEWPORT = {"width": 1280, "height": 800}

# The current notebook once its kernel is idle: its widget id.
_NOTEBOOK_READY_JS = """
async (timeoutMs) => {
  const app = window.jupyterapp;
  await app.restored;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const widget = app.shell.currentWidget;
    if (widget && widget.sessionContext && widget.content?.widgets) {
      await widget.context.ready;
      await widget.sessionContext.ready;
      const kernel = widget.sessionContext.session?.kernel;
      if (kernel && kernel.status === 'idle') return widget.id;
    }
    if (Date.now() > deadline) throw new Error('the notebook did not open');
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}
"""

# What the page shows of live data: rows in the peek's table (the table with a
# header in the output of the `%stream peek` cell) and points in the plot's
# series (what BokehJS holds).
_LIVE_JS = """
() => {
  const notebook = window.jupyterapp.shell.currentWidget;
  let peekRows = 0;
  for (const cell of notebook.content.widgets) {
    if (!cell.model.sharedModel.getSource().startsWith('%stream peek')) continue;
    const head = cell.node.querySelector('table.kit-table thead');
    if (head) peekRows = head.closest('table').querySelectorAll('tbody tr').length;
  }
  let points = 0;
  for (const doc of (window.Bokeh?.documents ?? [])) {
    for (const model of doc.all_models) {
      if (model.type === 'ColumnDataSource' && '__series' in model.data) {
        points += (model.data.x ?? []).length;
      }
    }
  }
  return {peekRows, points};
}
"""

_RUN_ALL_JS = """
() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }
"""

# Once every code cell has run (the kernel idle after Run All): the number of
# stderr outputs (pink boxes) and what they say.
_ALL_RAN_JS = """
async (timeoutMs) => {
  const widget = window.jupyterapp.shell.currentWidget;
  const deadline = Date.now() + timeoutMs;
  const code = () => widget.content.widgets.filter(c => c.model.type === 'code');
  for (;;) {
    const ran = code().every(
      c => c.model.sharedModel.getSource().trim().startsWith('#') ||
           c.model.executionCount !== null);
    if (ran && widget.sessionContext.session?.kernel?.status === 'idle') break;
    if (Date.now() > deadline) throw new Error('Run All did not finish');
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  const stderr = [];
  for (const cell of code()) {
    for (const output of cell.model.outputs.toJSON()) {
      if (output.output_type === 'stream' && output.name === 'stderr') {
        stderr.push(String(output.text));
      }
    }
  }
  return stderr;
}
"""

# What the cell whose source starts with ``prefix`` shows (outputs included).
_CELL_TEXT_JS = """
(prefix) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const cell = notebook.widgets.find(
    cell => cell.model.sharedModel.getSource().startsWith(prefix));
  return cell.node.innerText;
}
"""

# The newest x (time) the live plot holds.
_NEWEST_X_JS = """
() => {
  let newest = 0;
  for (const doc of (window.Bokeh?.documents ?? [])) {
    for (const model of doc.all_models) {
      if (model.type === 'ColumnDataSource' && '__series' in model.data) {
        for (const x of (model.data.x ?? [])) newest = Math.max(newest, Number(x));
      }
    }
  }
  return newest;
}
"""

# How many records the peek has seen (its status line: "N seen").
_SEEN_JS = """
() => {
  const notebook = window.jupyterapp.shell.currentWidget;
  for (const cell of notebook.content.widgets) {
    if (!cell.model.sharedModel.getSource().startsWith('%stream peek')) continue;
    const match = cell.node.innerText.match(/([0-9,]+) seen/);
    if (match) return Number(match[1].replace(/,/g, ''));
  }
  return -1;
}
"""

# The outputs (as JSON) of the cell whose source starts with ``prefix``.
_OUTPUT_JS = """
(prefix) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const cell = notebook.widgets.find(
    cell => cell.model.sharedModel.getSource().startsWith(prefix));
  return JSON.stringify(cell.model.outputs.toJSON());
}
"""

# Scroll the cell whose source starts with ``prefix`` (its input, or with
# ``output`` true its outputs) to the top of the notebook.
_SCROLL_TO_JS = """
([prefix, output]) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const cell = notebook.widgets.find(
    cell => cell.model.sharedModel.getSource().startsWith(prefix));
  const node = output ? cell.node.querySelector('.jp-OutputArea') : cell.node;
  node.scrollIntoView({block: 'start'});
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_live_data_within_5_s_of_the_notebook_opening(
    private_state: Path, tmp_path: Path, browser: Browser
) -> None:
    env = {**os.environ, **isolated_jupyter_env(tmp_path)}
    env.pop("KIT_BROKER", None)
    env.pop("KIT_HEADLESS", None)
    demo = KitDemo(
        ["--no-browser", "--dir", str(tmp_path / "work"), "--port", str(_free_port())],
        env=env,
    )
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error.message}"))
    page.on(
        "console",
        lambda m: (
            errors.append(f"console.error: {m.text}") if m.type == "error" else None
        ),
    )
    page.console_errors = errors  # type: ignore[attr-defined]
    timings: dict[str, float] = {}
    try:
        url = demo.wait_for(DEMO_URL, timeout=90).group(0)
        clicked = time.monotonic()
        page.goto(url, timeout=60_000)
        page.wait_for_function("() => !!window.jupyterapp", timeout=60_000)
        page.evaluate(_NOTEBOOK_READY_JS, 60_000)
        opened = time.monotonic()
        # The Streams panel opens by itself the first time (the README's picture).
        page.locator("#kit-streams-panel").wait_for(state="visible", timeout=10_000)
        screenshot(page, "demo-first-open")
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        timings["open"] = opened - clicked
        screenshot(page, "demo-notebook")

        page.evaluate(_RUN_ALL_JS)
        live: dict[str, Any] = {"peekRows": 0, "points": 0}
        while time.monotonic() - opened < 30 and not (
            "peek" in timings and "plot" in timings
        ):
            live = page.evaluate(_LIVE_JS)
            now = time.monotonic() - opened
            if live["peekRows"] > 0:
                timings.setdefault("peek", now)
            if live["points"] > 0:
                timings.setdefault("plot", now)
            page.wait_for_timeout(50)
        print(
            "kit demo: notebook open {open:.1f} s after the URL; live data after it "
            "opened: peek rows {peek:.2f} s, plot points {plot:.2f} s".format(
                **{"peek": float("nan"), "plot": float("nan"), **timings}
            )
        )
        assert timings.get("peek", 99) < LIVE_WITHIN, (timings, live)
        # The plot's first points come later (its cell loads BokehJS inline and
        # the browser draws it first): measured and reported, bounded loosely.
        assert timings.get("plot", 99) < PLOT_WITHIN, (timings, live)

        # The notebook's %stream demo used kit demo's producer: no second one.
        text = page.evaluate(_OUTPUT_JS, "%stream demo")
        assert "already produces demo telemetry into 'telemetry'" in text, text
        page.evaluate(_SCROLL_TO_JS, ["%stream peek", False])
        page.wait_for_timeout(300)
        screenshot(page, "demo-peek")
        # Let the 30 s window fill, then the README's picture.
        page.wait_for_timeout(4_000)
        page.evaluate(_SCROLL_TO_JS, ["%stream plot", True])
        page.wait_for_timeout(300)
        points = page.evaluate(_LIVE_JS)["points"]
        assert points > live["points"], "the plot stopped growing"
        screenshot(page, "demo-live-plot")
        # The README's top picture: the live plot beside the Streams panel,
        # which lists the demo's topic with its live rate.
        page.evaluate("() => window.jupyterapp.commands.execute('kit:show-streams')")
        row = page.locator("#kit-streams-panel .kit-topic-row[data-topic='telemetry']")
        row.locator(".kit-topic-rate").filter(has_text=re.compile(r"^[1-9]")).wait_for(
            timeout=15_000
        )
        page.evaluate(_SCROLL_TO_JS, ["%stream plot", True])
        page.wait_for_timeout(500)
        screenshot(page, "demo-panel-plot")

        # Run All ends with everything still live (no stop cell ran), and no
        # cell wrote to stderr (a pink box).
        assert page.evaluate(_ALL_RAN_JS, 120_000) == []
        seen, newest = page.evaluate(_SEEN_JS), page.evaluate(_NEWEST_X_JS)
        page.wait_for_timeout(3_000)
        assert page.evaluate(_SEEN_JS) > seen > 0, "the peek stopped after Run All"
        assert page.evaluate(_NEWEST_X_JS) > newest, "the plot stopped after Run All"
        page.evaluate(_SCROLL_TO_JS, ["time.sleep(5)", True])
        page.wait_for_timeout(1_500)  # the status widget redraws every second
        status = page.evaluate(_CELL_TEXT_JS, "time.sleep(5)")
        assert "running" in status and "No chain is running" not in status, status

        assert "producer    paused" not in demo.output  # nothing else produced
        assert console_errors(page) == []
        processes = demo.descendants()
        names = " ".join(" ".join(p.cmdline()) for p in processes)
        assert "ipykernel" in names and "jupyterlab" in names
    except BaseException:
        with contextlib.suppress(Exception):
            screenshot(page, "FAILED-demo")
        raise
    finally:
        context.close()
        code = demo.stop(signal.SIGTERM)
    assert code == 0, demo.output
    assert alive(processes) == [], demo.output
    assert "jupyterlab  stopped, with 1 kernel" in demo.output
    assert "stopped the embedded broker kit demo started" in demo.output
    assert not (private_state / "broker.json").exists()
