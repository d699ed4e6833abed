"""``kit demo``, ``kit replay`` and ``kit demo-data``."""

from __future__ import annotations

import click

from . import _friendly, broker_option, main


@main.command("demo")
@click.option(
    "--no-browser",
    is_flag=True,
    help="Print JupyterLab's URL (with its token) instead of opening a browser.",
)
@click.option(
    "--headless",
    is_flag=True,
    help="Run the notebook with papermill instead; write it executed and as HTML.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only check the install: produce 20 records, read them back, print them.",
)
@click.option(
    "--port",
    type=int,
    default=None,
    help="JupyterLab's port on 127.0.0.1 (default 8888 or the next free one).",
)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False),
    default=None,
    help="Working folder: the quickstart is copied here and headless results "
    "written here (default ./kit-demo; in a clone the quickstart opens in place).",
)
@click.option(
    "--notebook",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Open (or run headless) this notebook instead of the quickstart.",
)
@click.option(
    "--topic",
    default="telemetry",
    show_default=True,
    help="Topic of the demo producer (the quickstart reads telemetry).",
)
@click.option(
    "--rate",
    type=float,
    default=100.0,
    show_default=True,
    help="Demo records per second (5 cars).",
)
@broker_option
@_friendly
def demo(
    no_browser: bool,
    headless: bool,
    check: bool,
    port: int | None,
    workdir: str | None,
    notebook: str | None,
    topic: str,
    rate: float,
    address: str | None,
) -> None:
    """Start the broker, live race telemetry and JupyterLab on the quickstart.

    Ctrl-C stops everything kit demo started (the embedded broker only if it
    was not running before).
    """
    if check:
        from .. import _smoke

        _smoke.run(address, topic=topic, count=20, echo=click.echo)
        return
    from .. import _demo

    _demo.run(
        address=address, topic=topic, rate=rate, port=port, workdir=workdir,
        notebook=notebook, browser=not no_browser, headless=headless,
        echo=click.echo,
    )  # fmt: skip


@main.command("replay")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("topic")
@click.option(
    "--speed",
    type=float,
    default=1.0,
    show_default=True,
    help="1 = recorded timing, 10 = ten times faster.",
)
@click.option("--fast", is_flag=True, help="As fast as possible.")
@click.option("--key", default=None, help="Column that keys each record.")
@click.option("--timestamp", default=None, help="Column holding the record times.")
@click.option(
    "--timestamp-unit",
    type=click.Choice(["s", "ms", "us", "ns"]),
    default=None,
    help="Unit of a numeric time column (default: from its name, e.g. session_ms).",
)
@click.option(
    "--keep-timestamps", is_flag=True, help="Stamp records with their original times."
)
@broker_option
@_friendly
def replay_command(
    source: str,
    topic: str,
    speed: float,
    fast: bool,
    key: str | None,
    timestamp: str | None,
    timestamp_unit: str | None,
    keep_timestamps: bool,
    address: str | None,
) -> None:
    """Replay a JSON Lines, CSV or Parquet file into TOPIC."""
    from ..connection import connect
    from ..io.replay import replay

    conn = connect(address)
    job = replay(
        source,
        topic,
        speed=None if fast else speed,
        key=key,
        timestamp=timestamp,
        timestamp_unit=timestamp_unit,  # type: ignore[arg-type]
        keep_timestamps=keep_timestamps,
        connection=conn,
    )  # it prints what it replays and how long it should take
    try:
        job.wait()
    except KeyboardInterrupt:
        job.stop()
        click.echo(f"Stopped after {job.sent:,} of {job.total:,} records.")
        return
    click.echo(f"Replayed {job.sent:,} records into {topic!r}.")


@main.command("demo-data")
@click.option("--topic", default="telemetry", show_default=True)
@click.option(
    "--rate", type=float, default=50.0, show_default=True, help="Records per second."
)
@click.option("--cars", type=int, default=5, show_default=True)
@click.option(
    "--venue", type=click.Choice(["baku", "monza"]), default="baku", show_default=True
)
@click.option(
    "--for",
    "duration",
    default=None,
    help="Stop after a duration, e.g. 60s (default: Ctrl-C).",
)
@click.option("--count", type=int, default=None, help="Stop after N records.")
@broker_option
@_friendly
def demo_data(
    topic: str,
    rate: float,
    cars: int,
    venue: str,
    duration: str | None,
    count: int | None,
    address: str | None,
) -> None:
    """Produce synthetic race telemetry (keyed by car) until stopped."""
    from .._time import parse_duration
    from ..connection import connect
    from ..io.demo import demo

    conn = connect(address)
    seconds = None if duration is None else parse_duration(duration)
    job = demo(
        topic,
        rate=rate,
        cars=cars,
        venue=venue,
        duration=seconds,
        count=count,
        connection=conn,
    )
    from .._demo.feed import AttachedFeed

    if isinstance(job, AttachedFeed):
        click.echo(job.message())
    else:
        click.echo(
            f"Producing demo telemetry into {topic!r} at {rate:g} msg/s on {conn.address}."
        )
    try:
        job.wait()
    except KeyboardInterrupt:
        job.stop()
    click.echo(f"Produced {job.sent:,} records.")
