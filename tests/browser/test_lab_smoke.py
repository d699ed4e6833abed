"""Smoke test of the browser harness: a widget updated from a thread goes live.

Opens a real JupyterLab in headless Chromium, runs a notebook whose background
thread updates an ``ipywidgets.Label`` 5 times a second, and checks that the
page shows the updates (text and pixels change between two screenshots).
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from ._lab import (
    Lab,
    console_errors,
    open_notebook,
    run_all,
    screenshot,
    write_notebook,
)

CELLS = [
    """\
import threading
import time

import ipywidgets as widgets
from IPython.display import display

label = widgets.Label(value="waiting")
display(label)""",
    """\
def tick(duration=20.0, interval=0.2):
    # Bounded: stops by itself after `duration` seconds.
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < duration:
        n += 1
        label.value = f"kit-smoke-{n:04d}"
        time.sleep(interval)
    label.value = f"kit-smoke-done after {n} updates"


threading.Thread(target=tick, daemon=True, name="kit-smoke-ticker").start()""",
]

# Matches the label's live text, not the cell source (which has "{n:04d}").
LIVE_TEXT = re.compile(r"^kit-smoke-\d{4}$")


def test_widget_updates_from_a_thread_are_visible(lab: Lab, page: Page) -> None:
    name = write_notebook(lab.root_dir, f"smoke-{uuid.uuid4().hex[:8]}.ipynb", CELLS)
    panel = open_notebook(page, lab, name)

    assert run_all(page), "a cell failed"

    label = panel.locator(".jp-OutputArea-output .widget-label")
    expect(label).to_have_text(LIVE_TEXT, timeout=30_000)
    first_text = label.inner_text()
    first_png = screenshot(page, "smoke-1")

    page.wait_for_timeout(2_000)

    second_text = label.inner_text()
    second_png = screenshot(page, "smoke-2")

    assert LIVE_TEXT.match(second_text), second_text
    assert first_text != second_text
    assert first_png.read_bytes() != second_png.read_bytes()
    assert console_errors(page) == []
