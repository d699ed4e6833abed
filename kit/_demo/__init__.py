"""``kit demo``: a broker, live race telemetry and JupyterLab on the quickstart.

What it starts, in this order, and stops in reverse on Ctrl-C or SIGTERM:

1. the broker: the embedded one (reused if it already runs, and then left
   running), or ``--broker``/``KIT_BROKER``;
2. :class:`~kit._demo.feed.Feed`, a producer of demo race telemetry into
   ``telemetry``, which the quickstart's own ``%stream demo telemetry`` uses
   rather than start a second one (why and how: ``kit._demo.feed``);
3. JupyterLab on ``notebooks/quickstart.ipynb`` (``kit._demo.lab``), whose
   kernels find the same broker. With ``headless=True`` papermill runs the
   notebook instead (no Feed: the notebook's own bounded producer is the
   only one) and nbconvert writes an HTML report (``kit._demo.notebook``).

Each part prints one line as it comes up. Only what kit demo started is
stopped: JupyterLab, its kernels and their children, the Feed, and the
embedded broker if kit demo started it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import _logs, _state
from .._errors import KitError
from .feed import Feed
from .lab import LabServer, choose_port
from .notebook import (
    WORKDIR,
    find_notebook,
    missing_notebook,
    quickstart_source,
    run_headless,
)

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["run"]

Echo = Callable[[str], None]


def run(
    *,
    address: str | None = None,
    topic: str = "telemetry",
    rate: float = 100.0,
    port: int | None = None,
    workdir: str | None = None,
    notebook: str | None = None,
    browser: bool = True,
    headless: bool = False,
    echo: Echo = print,
) -> None:
    """Run the demo until Ctrl-C/SIGTERM (or, headless, until the notebook ran).

    Raises:
        KitError: a busy ``port``, no notebook, JupyterLab failing, a failed
            headless run; what was started is stopped first.
    """
    with _signals_interrupt(echo) as calm:
        stack = contextlib.ExitStack()
        try:
            _run(
                stack, address=address, topic=topic, rate=rate, port=port,
                workdir=workdir, notebook=notebook, browser=browser,
                headless=headless, echo=echo,
            )  # fmt: skip
        except KeyboardInterrupt:
            if headless:  # the run did not finish: not a success
                raise
        finally:
            calm()  # from here on a Ctrl-C must not cut the clean-up short
            stack.close()
    if not headless:
        echo("stopped     everything kit demo started")


def _run(
    stack: contextlib.ExitStack,
    *,
    address: str | None,
    topic: str,
    rate: float,
    port: int | None,
    workdir: str | None,
    notebook: str | None,
    browser: bool,
    headless: bool,
    echo: Echo,
) -> None:
    # What can be checked is checked before anything is started.
    if rate <= 0:
        raise KitError(f"--rate {rate:g} must be above 0 records per second.")
    kernel_env = {"KIT_BROKER": address} if address else {}
    if headless:
        source = Path(notebook).resolve() if notebook else quickstart_source()
        if source is None or not source.is_file():
            raise KitError(missing_notebook(notebook))
        _broker_up(address, stack, echo)
        executed, report = run_headless(
            source, Path(workdir or WORKDIR).resolve(), env=kernel_env, echo=echo
        )
        echo(f"notebook    {executed}")
        echo(f"report      {report}")
        return
    root, path = find_notebook(notebook=notebook, workdir=workdir, echo=echo)
    lab_port = choose_port(port)
    if importlib.util.find_spec("jupyterlab") is None:
        raise KitError(
            f"JupyterLab is not installed in this Python ({sys.executable}): "
            "run `pip install jupyterlab`, or `kit demo --headless`."
        )
    conn = _broker_up(address, stack, echo)
    feed = Feed(conn, topic, rate=rate, echo=echo).start()
    stack.callback(_stop_feed, feed, echo)
    echo(
        f"producer    demo race telemetry into {topic!r} at {rate:g} msg/s "
        "(a notebook's %stream demo telemetry uses it: no second producer)"
    )
    log = _state.state_dir() / "demo-lab.log"
    echo(f"jupyterlab  starting on port {lab_port} (log: {log})")
    lab = LabServer.start(
        root,
        path,
        port=lab_port,
        browser=browser,
        env={**os.environ, **kernel_env},
        log=log,
    )
    stack.callback(_stop_lab, lab, echo)
    echo(f"jupyterlab  ready in {lab.took:.1f} s: {lab.notebook_url}")
    where = (
        "opening it in your browser (or open the URL above)"
        if browser
        else "open the URL above"
    )
    echo(
        f"ready       {where}; Run > Run All Cells shows live tables and plots. "
        "Ctrl-C stops what kit demo started."
    )
    failed: list[BaseException] = []

    def check_feed() -> None:  # a producer that failed must not go unnoticed
        if feed.error is not None and not failed:
            failed.append(feed.error)
            echo(f"producer    stopped by an error: {feed.error}")

    code = lab.wait(every=check_feed)
    if code != 0:
        raise KitError(
            f"JupyterLab exited with code {code}; the end of {log}:\n{_logs.tail(log)}"
        )
    echo("jupyterlab  shut down from its menu; stopping the rest")


def _broker_up(
    address: str | None, stack: contextlib.ExitStack, echo: Echo
) -> Connection:
    from .. import _broker
    from ..connection import connect

    if address:
        conn = connect(address)
        echo(f"broker      using {address} (profile {conn.profile})")
        return conn
    info, started = _broker.start()
    if started:
        stack.callback(_stop_broker, echo)
        echo(f"broker      started the embedded broker at {info.address} (in memory)")
    else:
        echo(
            f"broker      using the embedded broker already running at "
            f"{info.address} (pid {info.pid}); it is left running"
        )
    return connect()


def _stop_broker(echo: Echo) -> None:
    from .. import _broker

    info = _broker.stop()
    if info is not None:
        echo(
            f"broker      stopped the embedded broker kit demo started ({info.address})"
        )


def _stop_feed(feed: Feed, echo: Echo) -> None:
    feed.stop()
    echo(f"producer    stopped after {feed.sent:,} records")


def _stop_lab(lab: LabServer, echo: Echo) -> None:
    kernels = lab.stop()
    plural = "" if kernels == 1 else "s"
    echo(f"jupyterlab  stopped, with {kernels} kernel{plural}")


@contextlib.contextmanager
def _signals_interrupt(echo: Echo) -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt while the demo runs; after
    the first, or once ``calm()`` is called, they only say so (a second
    Ctrl-C must not leave kernels or a broker behind)."""

    def interrupt(signum: int, frame: object) -> None:
        calm()
        echo(f"stopping    ({signal.Signals(signum).name})")
        raise KeyboardInterrupt

    def patience(signum: int, frame: object) -> None:
        echo("stopping    still stopping, please wait")

    def calm() -> None:
        signal.signal(signal.SIGINT, patience)
        signal.signal(signal.SIGTERM, patience)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield calm
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
