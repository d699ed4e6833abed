"""The ``%stream peek`` and ``%stream topics`` widgets in a real JupyterLab.

Each test runs a notebook that starts ``%stream demo telemetry`` into a fresh
topic and shows a live widget on it, then checks what the browser shows: the
peek table fills with rows and keeps changing, Pause freezes it, Resume
unfreezes it, Stop stops it, and the topics table lists the topic with a
msg/s figure. The screenshots ``peek-widget-1``, ``peek-widget-2`` and
``topics-widget`` (in ``tests/browser/artifacts``) are the README's pictures.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Locator, Page, expect

from ._lab import (
    Lab,
    console_errors,
    open_notebook,
    run_all,
    screenshot,
    write_notebook,
)

ROWS = 10
WIDGET_TIMEOUT = 30_000  # ms: kernel imports + first batch on 2 cores
SEEN = re.compile(r"([\d,]+) seen")


def _topic() -> str:
    return f"telemetry-{uuid.uuid4().hex[:8]}"


def _peek_notebook(lab: Lab, topic: str) -> str:
    return write_notebook(
        lab.root_dir,
        f"peek-{uuid.uuid4().hex[:8]}.ipynb",
        [
            "%load_ext kit",
            f"%stream demo telemetry --topic {topic} --rate 50 --for 60s",
            f"%stream peek {topic} --rows {ROWS}",
        ],
    )


class PeekWidget:
    """Locators for the parts of one peek widget in a notebook panel."""

    def __init__(self, panel: Locator) -> None:
        outputs = panel.locator(".jp-OutputArea-output")
        # The peek's VBox is the one holding the Pause toggle.
        self.root = outputs.locator(".widget-vbox").filter(
            has=panel.page.locator(".widget-toggle-button")
        )
        self.status = self.root.locator(".widget-hbox .widget-html")
        self.pause = self.root.locator(".widget-toggle-button")
        self.stop = self.root.get_by_role("button", name="Stop")
        # The schema (in the accordion) is a kit-table too, but has no <thead>.
        self.table = self.root.locator("table.kit-table:has(thead)")
        self.rows = self.table.locator("tbody tr")

    def wait_for_rows(self, n: int = 5) -> None:
        expect(self.root).to_have_count(1, timeout=WIDGET_TIMEOUT)
        expect(self.rows.nth(n - 1)).to_be_visible(timeout=WIDGET_TIMEOUT)

    def seen(self) -> int:
        text = self.status.inner_text()
        match = SEEN.search(text)
        assert match, f"no 'N seen' in the status {text!r}"
        return int(match.group(1).replace(",", ""))

    def table_text(self) -> str:
        return self.table.inner_text()


# One atomic read of the rows' boxes, from an element that is not redrawn: the
# tables are replaced (innerHTML) several times a second, so a row or table
# located first and measured in a second round trip may already be detached.
_ROW_BOXES_JS = """
(root, selector) => [...root.querySelectorAll(selector)].map(row => {
  const box = row.getBoundingClientRect();
  return {
    text: row.innerText,
    width: box.width,
    height: box.height,
    top: box.top,
    bottom: box.bottom,
    visible: row.checkVisibility(),
  };
})
"""


def _rows_on_screen(page: Page, root: Locator, selector: str) -> list[dict[str, Any]]:
    """The ``selector`` rows in ``root``, each checked shown, sized and in view."""
    rows: list[dict[str, Any]] = root.evaluate(_ROW_BOXES_JS, selector)
    height = page.viewport_size["height"] if page.viewport_size else 0
    for row in rows:
        assert row["visible"] and row["text"].strip(), row
        assert row["width"] > 0 and row["height"] > 0, row
        assert row["top"] >= 0 and row["bottom"] <= height, row
    return rows


def _wait_until_changed(
    read: Callable[[], str], before: str, timeout: float = 10.0
) -> str:
    """Poll ``read()`` until it differs from ``before``; returns the new value."""
    deadline = time.monotonic() + timeout
    while True:
        now = read()
        if now != before:
            return now
        assert time.monotonic() < deadline, f"unchanged after {timeout:.0f} s"
        time.sleep(0.2)


def test_peek_table_is_live(lab: Lab, page: Page) -> None:
    topic = _topic()
    panel = open_notebook(page, lab, _peek_notebook(lab, topic))
    assert run_all(page), "a cell failed"

    peek = PeekWidget(panel)
    peek.wait_for_rows(5)
    expect(peek.status).to_contain_text(topic)
    expect(peek.status).to_contain_text("● live")
    expect(peek.status).to_contain_text(re.compile(r"\d+ msg/s"))
    expect(peek.rows).to_have_count(ROWS, timeout=WIDGET_TIMEOUT)

    seen_1 = peek.seen()
    first_row_1 = peek.rows.first.inner_text()
    png_1 = screenshot(page, "peek-widget-1")

    page.wait_for_timeout(2_000)

    seen_2 = peek.seen()
    first_row_2 = peek.rows.first.inner_text()
    png_2 = screenshot(page, "peek-widget-2")

    assert seen_2 > seen_1 > 0, (seen_1, seen_2)
    assert first_row_1 != first_row_2
    assert png_1.read_bytes() != png_2.read_bytes()
    # The header and every row are on screen with a real size.
    rows = _rows_on_screen(page, peek.root, "table.kit-table:has(thead) tr")
    assert len(rows) == ROWS + 1, rows  # + the header
    # The header names the record's metadata and the telemetry fields.
    header_text = peek.table.locator("thead").inner_text()
    for column in ("_key", "_offset", "car", "speed", "rpm", "gear"):
        assert column in header_text, header_text
    assert console_errors(page) == []


def test_peek_pause_resume_and_stop(lab: Lab, page: Page) -> None:
    topic = _topic()
    panel = open_notebook(page, lab, _peek_notebook(lab, topic))
    assert run_all(page), "a cell failed"

    peek = PeekWidget(panel)
    peek.wait_for_rows(5)
    expect(peek.pause).to_have_text("Pause")

    peek.pause.click()
    expect(peek.pause).to_have_text("Resume")
    expect(peek.status).to_contain_text("paused")
    # A redraw that had already started when Pause arrived may still land.
    page.wait_for_timeout(600)
    frozen = peek.table_text()
    seen_paused = peek.seen()

    page.wait_for_timeout(1_500)

    assert peek.table_text() == frozen, "the table changed while paused"
    expect(peek.status).to_contain_text("paused")
    # The tap keeps consuming while the table is frozen.
    assert peek.seen() > seen_paused

    peek.pause.click()
    expect(peek.pause).to_have_text("Pause")
    expect(peek.status).to_contain_text("● live")
    _wait_until_changed(peek.table_text, frozen)

    peek.stop.click()
    expect(peek.status).to_contain_text("stopped", timeout=15_000)
    expect(peek.stop).to_be_disabled()
    expect(peek.pause).to_be_disabled()
    assert console_errors(page) == []


def test_topics_table_lists_the_topic_with_its_rate(lab: Lab, page: Page) -> None:
    topic = _topic()
    name = write_notebook(
        lab.root_dir,
        f"topics-{uuid.uuid4().hex[:8]}.ipynb",
        [
            "%load_ext kit",
            f"%stream demo telemetry --topic {topic} --rate 50 --for 60s",
            "%stream topics",
        ],
    )
    panel = open_notebook(page, lab, name)
    assert run_all(page), "a cell failed"

    table = panel.locator(".jp-OutputArea-output table.kit-table")
    expect(table).to_be_visible(timeout=WIDGET_TIMEOUT)
    headers = table.locator("thead th")
    expect(headers).to_have_text(["topic", "partitions", "messages", "msg/s"])

    row = table.locator("tbody tr").filter(has_text=topic)
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(topic)
    expect(cells.nth(1)).to_have_text("4")  # the demo creates 4 partitions
    # The first draw has no rate yet ("…"); the next refresh (2 s) has one.
    expect(cells.nth(3)).to_have_text(re.compile(r"^[1-9][\d,]*$"), timeout=15_000)
    messages = int(cells.nth(2).inner_text().replace(",", ""))
    assert messages > 0
    shown = _rows_on_screen(page, panel, "table.kit-table tbody tr")
    assert [r for r in shown if r["text"].startswith(topic)], shown

    screenshot(page, "topics-widget")
    assert console_errors(page) == []
