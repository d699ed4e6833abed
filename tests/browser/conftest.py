"""Real-browser JupyterLab fixtures: ``lab`` (server), ``browser``, ``page``.

Every test in tests/browser is marked ``browser`` (deselect with
``-m "not browser"``). Without playwright or Chromium they are skipped, unless
``KIT_BROWSER_REQUIRED=1`` (set by .ci/run), which turns the skip into a
failure. Helpers (write_notebook, open_notebook, run_all, screenshot) are in
``tests/browser/_lab.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    Lab,
    chromium_available,
    screenshot,
    start_lab,
    stop_lab,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page

_HERE = Path(__file__).resolve().parent
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselection looks at markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = chromium_available()
    skip = missing and os.environ.get("KIT_BROWSER_REQUIRED") != "1"
    for item in items:
        if _HERE not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        # Skip before the (slow) broker and lab fixtures are set up.
        if skip and "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=str(missing)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item, so ``page`` can screenshot failures.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def lab(broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab server for the session; its kernels use the test broker."""
    env = dict(os.environ)
    env["KIT_BROKER"] = broker.address
    server = start_lab(tmp_path_factory.mktemp("lab"), env)
    yield server
    stop_lab(server)


@pytest.fixture(autouse=True)
def _shutdown_kernels_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    # Autouse fixtures are set up first and torn down last, so this runs after
    # ``page`` closed: kernels (and the threads in them) do not leak into the
    # next test.
    yield
    # funcargs holds ``lab`` only if the test used it and its setup succeeded.
    server: Lab | None = getattr(request.node, "funcargs", {}).get("lab")
    if server is not None and server.process.poll() is None:
        server.shutdown_kernels()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian Chromium for the session."""
    missing = chromium_available()
    if missing:
        if os.environ.get("KIT_BROWSER_REQUIRED") == "1":
            pytest.fail(f"browser tests required but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context + page (1400x900) per test.

    ``page.console_errors`` is a list of the console errors and uncaught page
    errors seen so far; ``_lab.console_errors(page)`` filters out noise.
    A failing test leaves ``artifacts/FAILED-<test>.png``.
    """
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    tab = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            errors.append(f"console.error: {message.text} [{where}]")

    def on_page_error(error: Error) -> None:
        errors.append(f"pageerror: {error.message}")

    tab.on("console", on_console)
    tab.on("pageerror", on_page_error)
    tab.console_errors = errors  # type: ignore[attr-defined]
    try:
        yield tab
        reports = request.node.stash.get(_REPORTS, {})
        if "call" in reports and reports["call"].failed:
            # The page may be the reason the test failed: never mask the failure.
            with contextlib.suppress(Exception):
                screenshot(tab, f"FAILED-{request.node.name}")
    finally:
        context.close()
