"""The JupyterLab extension in a real browser: Streams panel, Export, badges.

The extension is the one the package installs (``pip install`` puts the
prebuilt ``kit/labextension`` under ``share/jupyter/labextensions``). The test
produces demo telemetry into a fresh topic, opens a notebook with a
``%%stream`` chain, and checks what the browser shows: the panel lists the
topic with a rising count and a msg/s figure, the notebook toolbar's Export
writes the service folder, the exported service (started like ``kit run``)
appears in the panel and on the cell's badge as live, and its Stop button
stops it; killed, it stays listed as ended with its log's end until Clear.
Screenshots ``streams-panel``, ``export-dialog``, ``streams-panel-live`` and
``streams-panel-ended`` are saved in ``tests/browser/artifacts``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

from playwright.sync_api import Locator, Page, expect

import kit
from kit import process

from ._lab import Lab, console_errors, open_notebook, screenshot, write_notebook


def _panel(page: Page) -> Locator:
    """Open the Streams side panel by its tab in the left sidebar."""
    tab = page.locator(".jp-SideBar.jp-mod-left li[data-id='kit-streams-panel']")
    expect(tab).to_be_visible(timeout=20_000)
    panel = page.locator("#kit-streams-panel")
    if not panel.is_visible():
        tab.click()
    expect(panel).to_be_visible()
    return panel


def _messages(row: Locator) -> int:
    return int(row.locator(".kit-topic-messages").get_attribute("data-value") or -1)


def test_extension_is_installed_and_enabled() -> None:
    """What a user sees after ``pip install``: the extension listed, enabled, OK."""
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = (result.stdout + result.stderr).splitlines()
    ours = [line for line in lines if "jupyter-streamkit" in line]
    assert ours, "\n".join(lines)
    assert "enabled" in ours[0] and "OK" in ours[0], ours[0]


def test_panel_export_badges_and_stop(
    lab: Lab, page: Page, connection: kit.Connection
) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"panel-{suffix}"
    step = f"fast_{suffix}"
    connection.create_topic(topic, partitions=2)
    producer = kit.demo(topic, rate=40, duration=120, connection=connection)
    service_name = f"svc-{suffix}"
    try:
        name = write_notebook(
            lab.root_dir,
            f"chain-{suffix}.ipynb",
            [
                "import polars as pl\n%load_ext kit",
                f"%%stream {step} --input {topic} --output {topic}-fast\n"
                'df.filter(pl.col("gear") >= 2).with_columns(speed_ms=pl.col("speed") / 3.6)',
            ],
        )
        notebook = open_notebook(page, lab, name)

        # The %%stream cell has a badge naming the step and its input.
        badge = notebook.locator(f".kit-CellBadge[data-step='{step}']")
        expect(badge).to_have_text(f"{step} ← {topic}", timeout=10_000)
        expect(badge).to_have_attribute("data-state", "idle")

        # The panel: connection, and the topic with a rising message count.
        panel = _panel(page)
        expect(panel.locator(".kit-StreamsPanel-address code")).to_have_text(
            str(connection.address), timeout=10_000
        )
        row = panel.locator(f".kit-topic-row[data-topic='{topic}']")
        expect(row).to_be_visible(timeout=10_000)
        first = _messages(row)
        deadline = time.monotonic() + 15
        while _messages(row) <= first and time.monotonic() < deadline:
            time.sleep(0.25)
        second = _messages(row)
        assert second > first, f"count did not rise from {first} within 15 s"
        # msg/s needs two answers 2 s apart: the demo produces ~40/s.
        expect(row.locator(".kit-topic-rate")).to_have_text(
            re.compile(r"^[1-9][\d.]*k?$"), timeout=10_000
        )
        screenshot(page, "streams-panel")

        # Export from the notebook toolbar into a folder the dialog asks for.
        notebook.locator(".kit-ExportButton").click()
        dialog = page.locator(".jp-Dialog")
        field = dialog.locator("input")
        expect(field).to_have_value(f"chain-{suffix}-service")
        field.fill(service_name)
        dialog.get_by_role("button", name="Export").click()
        expect(dialog).to_contain_text("Service exported", timeout=30_000)
        expect(dialog).to_contain_text("main.py")
        screenshot(page, "export-dialog")
        dialog.get_by_role("button", name="Ok").click()
        folder = lab.root_dir / service_name
        assert (folder / "main.py").is_file()
        assert (folder / "steps.py").is_file()
        assert step in (folder / "steps.py").read_text()

        # Run the exported service: the panel lists it, the badge goes live.
        service = process.start_service(
            folder, name=service_name, connection=connection
        )
        process.wait_running(service, timeout=60)
        card = panel.locator(f".kit-service[data-service='{service_name}']")
        expect(card).to_be_visible(timeout=15_000)
        expect(card.locator(f".kit-step-row[data-step='{step}']")).to_be_visible()
        expect(badge).to_have_attribute("data-state", "live", timeout=15_000)
        # Records flow: the badge and the panel's step row show a real rate.
        expect(badge).to_contain_text(
            re.compile(r"● running · [1-9][\d.]*k? msg/s"), timeout=20_000
        )
        expect(
            card.locator(f".kit-step-row[data-step='{step}'] td").nth(1)
        ).to_have_text(re.compile(r"^[1-9]"), timeout=10_000)
        screenshot(page, "streams-panel-live")

        # Stop from the panel: the process ends and the card goes away.
        card.locator(".kit-service-stop").click()
        expect(card).to_have_count(0, timeout=30_000)
        assert service_name not in {s.name for s in process.list_services()}
        expect(badge).to_have_attribute("data-state", "idle", timeout=15_000)

        # A service that dies on its own stays listed: how, and its log's end;
        # Clear forgets it.
        service = process.start_service(
            folder, name=service_name, connection=connection
        )
        process.wait_running(service, timeout=60)
        expect(card.locator(".kit-step-row")).to_be_visible(timeout=15_000)
        os.kill(service.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while service_name in {s.name for s in process.list_services()}:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ended = panel.locator(
            f".kit-service.kit-mod-ended[data-service='{service_name}']"
        )
        expect(ended).to_contain_text("was killed (SIGKILL)", timeout=15_000)
        expect(ended).to_contain_text(f"{service_name}.log")
        screenshot(page, "streams-panel-ended")
        ended.locator(".kit-service-clear").click()
        expect(ended).to_have_count(0, timeout=15_000)
        assert service_name not in {e.name for e in process.ended_services()}

        assert console_errors(page) == []
    finally:
        producer.stop()
        process.stop_service(service_name)
        connection.delete_topics([topic])


def test_export_command_names_the_blocking_cell(lab: Lab, page: Page) -> None:
    """The palette command refuses a chain that depends on hidden kernel state."""
    suffix = uuid.uuid4().hex[:8]
    name = write_notebook(
        lab.root_dir,
        f"broken-{suffix}.ipynb",
        [
            "%load_ext kit\nTHRESHOLD = 100",
            f"%%stream hot_{suffix} --input telemetry\n"
            "df.filter(pl.col('speed') > THRESHOLD)",
        ],
    )
    open_notebook(page, lab, name)
    # The command is in the palette ...
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:activate-command-palette')"
    )
    # (the modal palette; JupyterLab keeps a hidden one in the DOM too)
    field = page.locator(".lm-CommandPalette-input:visible")
    field.fill("Export Stream Chain")
    expect(
        page.locator(".lm-CommandPalette-item:visible", has_text="Export Stream Chain")
    ).to_be_visible()
    page.keyboard.press("Escape")
    # ... and reports the blocking cell instead of writing a folder.
    result: Any = page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'kit:export-chain', {outdir: 'broken-service', quiet: true})"
    )
    assert result["ok"] is False
    assert f"hot_{suffix}" in result["error"] and "THRESHOLD" in result["error"]
    assert not (lab.root_dir / "broken-service").exists()
