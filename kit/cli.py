"""The ``kit`` command: thin over the library, one call per command."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ._errors import KitError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn kit errors into one clear line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KitError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


#: ``--broker host:port`` (or KIT_BROKER); without it, the embedded broker.
broker_option = click.option(
    "--broker",
    "address",
    envvar="KIT_BROKER",
    default=None,
    help="host:port (default: the embedded broker).",
)


@click.group()
@click.version_option(package_name="jupyter-streamkit")
def main() -> None:
    """jupyter-streamkit: live Kafka streams in notebooks, shipped as services."""


@main.group()
def broker() -> None:
    """The embedded Kafka-protocol broker (Tansu, no Docker, no JVM)."""


@broker.command("start")
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port on 127.0.0.1 (default 9092 or the next free one).",
)
@click.option(
    "--durable",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep topics and offsets in this folder (through a local S3 server).",
)
@click.option(
    "--engine",
    type=click.Choice(["tansu", "kafka"]),
    envvar="KIT_ENGINE",
    default="tansu",
    show_default=True,
    help="tansu: the built-in broker (pip only); kafka: real Apache Kafka 4.x (needs Java 17, and Maven or --kafka-home).",
)
@click.option(
    "--brokers",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="Kafka nodes (3: replication factor 3, min.insync.replicas=2).",
)
@click.option(
    "--kafka-home",
    envvar="KAFKA_HOME",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="An unpacked Apache Kafka distribution (default: assembled from Maven Central, once).",
)
@_friendly
def broker_start(
    port: int | None,
    durable: str | None,
    engine: str,
    brokers: str,
    kafka_home: str | None,
) -> None:
    """Start the embedded broker, or report the one already running."""
    from . import _broker

    info, started = _broker.start(
        port=port, durable=durable, engine=engine, brokers=int(brokers),
        kafka_home=kafka_home, echo=click.echo,
    )  # fmt: skip
    if started:
        nodes = f"{len(info.pids)} nodes, " if len(info.pids) > 1 else ""
        kind = "Apache Kafka" if info.engine == "kafka" else "Embedded broker"
        where = f"{info.address} (pid {info.pid}, {nodes}{info.storage})"
        click.echo(f"{kind} started at {where}.")
    else:
        click.echo(
            f"Embedded broker already running at {info.address} (pid {info.pid})."
        )
    click.echo(info.address)


@broker.command("status")
@_friendly
def broker_status() -> None:
    """Address, pid, uptime, topics and memory of the embedded broker."""
    from . import _broker

    status = _broker.status()
    if status is None:
        click.echo("No embedded broker is running (start one with `kit broker start`).")
        raise SystemExit(3)
    topics = status["topics"]
    rss = status["rss"]
    click.echo(f"address  {status['address']}")
    click.echo(f"engine   {status['engine']}")
    click.echo(f"pid      {', '.join(map(str, status['pids']))}")
    click.echo(f"uptime   {_duration(status['uptime'])}")
    click.echo(
        f"storage  {status['storage']}"
        + (f" in {status['durable_dir']}" if status["durable_dir"] else "")
    )
    click.echo(
        f"topics   {'not answering' if topics is None else len(topics)}"
        + (
            f" ({', '.join(topics[:10])}{' ...' if len(topics) > 10 else ''})"
            if topics
            else ""
        )
    )
    click.echo(f"rss      {'?' if rss is None else f'{rss / 2**20:.1f} MiB'}")
    click.echo(f"log      {status['log']}")


@broker.command("stop")
@_friendly
def broker_stop() -> None:
    """Stop the embedded broker (its in-memory topics are gone)."""
    from . import _broker

    info = _broker.stop()
    if info is None:
        click.echo("No embedded broker is running.")
    else:
        click.echo(f"Stopped the embedded broker at {info.address} (pid {info.pid}).")


@main.command("topics")
@broker_option
@_friendly
def topics(address: str | None) -> None:
    """List topics with partitions and message counts."""
    from .connection import connect

    conn = connect(address)
    rows = conn.topics()
    if not rows:
        click.echo("No topics.")
        return
    width = max(len(r.name) for r in rows)
    click.echo(f"{'topic'.ljust(width)}  partitions  messages")
    for row in rows:
        click.echo(f"{row.name.ljust(width)}  {row.partitions:>10}  {row.messages:>8}")


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
        from . import _smoke

        _smoke.run(address, topic=topic, count=20, echo=click.echo)
        return
    from . import _demo

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
    from .connection import connect
    from .io.replay import replay

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
    from ._time import parse_duration
    from .connection import connect
    from .io.demo import demo

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
    from ._demo.feed import AttachedFeed

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


@main.command("export")
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.argument("outdir", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Service name (default: the folder's name).")
@click.option(
    "--chain",
    "steps",
    multiple=True,
    help="Export only this step (repeatable) and its inputs.",
)
@click.option(
    "--replicas",
    type=int,
    default=1,
    show_default=True,
    help="Replica count for quix.yaml.",
)
@click.option("--pipeline", is_flag=True, help="Also write a quix.yaml pipeline entry.")
@click.option(
    "--no-parity",
    is_flag=True,
    help="Do not record a sample and write the parity test.",
)
@click.option(
    "--broker",
    "address",
    envvar="KIT_BROKER",
    default=None,
    help="Where the sample is read (default: the embedded broker).",
)
@_friendly
def export_command(
    notebook: str,
    outdir: str,
    name: str | None,
    steps: tuple[str, ...],
    replicas: int,
    pipeline: bool,
    no_parity: bool,
    address: str | None,
) -> None:
    """Export NOTEBOOK's %%stream chain as a service in OUTDIR.

    Unless --no-parity, the chain's prototypes run on a sample of its input
    topics, which is saved with a parity test (test_service.py).
    """
    from pathlib import Path

    from .chain.capture import chain_from_notebook
    from .export import export_chain

    chain = chain_from_notebook(notebook)
    service = name or Path(outdir).resolve().name
    ordered = chain.ordered(steps or None)
    chain.validate(ordered)
    samples = None
    if not no_parity:
        from ._parity import record_samples
        from .connection import connect

        try:
            samples = record_samples(chain, ordered, connection=connect(address))
        except KitError as exc:
            click.echo(
                f"No parity test: the sample could not be recorded ({exc})", err=True
            )
    export_chain(
        chain, outdir, name=service, steps=steps or None, source=Path(notebook).name,
        samples=samples, replicas=replicas, pipeline=pipeline,
    )  # fmt: skip
    click.echo(f"Exported service {service!r} from {notebook} to {outdir}/.")


@main.command("run")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--name", default=None, help="Service name (default: the folder's name).")
@broker_option
@click.option(
    "--every",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between status lines.",
)
@_friendly
def run_command(
    folder: str, name: str | None, address: str | None, every: float
) -> None:
    """Run an exported service against the current connection (Ctrl-C stops it)."""
    import signal
    import time
    from pathlib import Path

    from . import _logs, process
    from .connection import connect

    conn = connect(address)
    service_name = name or Path(folder).resolve().name
    service = process.start_service(
        folder, name=service_name, connection=conn, detach=True
    )

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a supervisor, `kill`) stops the service too, like Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    for notice in process.wait_running(service).get("notices", ()):
        click.echo(notice)
    click.echo(
        f"Running {service_name!r} (pid {service.pid}) on {conn.address}; Ctrl-C stops it."
    )
    try:
        while service.alive:
            time.sleep(every)
            for line in _status_lines(service.status()):
                click.echo(line)
    except KeyboardInterrupt:
        process.stop_service(service_name)
        click.echo(f"Stopped {service_name!r}.")
        return
    # It ended on its own: say how (it stays in `kit status` until cleared).
    gone = next((e for e in process.ended_services() if e.name == service_name), None)
    how = gone.how if gone is not None else "ended"
    click.echo(
        f"Service {service_name!r} {how}; its log ({service.log}) ends:", err=True
    )
    click.echo(_logs.tail(service.log), err=True)
    raise SystemExit(1)


@main.command("status")
@_friendly
def status_command() -> None:
    """Chains and services the kit started (live runs and `kit run`)."""
    from . import process

    services = process.list_services()
    ended = process.ended_services()
    if not services:
        click.echo("No service is running.")
    for service in services:
        click.echo(f"{service.name}  pid {service.pid}  {service.folder}")
        for line in _status_lines(service.status()):
            click.echo(line)
    for gone in ended:
        when = time.strftime("%H:%M:%S", time.localtime(gone.ended_at))
        click.echo(f"{gone.name}  {gone.how} at {when}; its log ({gone.log}) ends:")
        for line in gone.log_tail.splitlines():
            click.echo(f"  {line}")


@main.command("stop")
@click.argument("name", required=False)
@_friendly
def stop_command(name: str | None) -> None:
    """Stop services the kit started (all, or NAME)."""
    from . import process

    stopped = [
        s.name
        for s in process.list_services()
        if (name is None or s.name == name) and process.stop_service(s.name)
    ]
    forgotten = [
        e.name for e in process.ended_services() if name is None or e.name == name
    ]
    for ended in forgotten:
        process.stop_service(ended)  # forgets how it ended
    if forgotten:
        click.echo("Cleared ended: " + ", ".join(forgotten))
    if stopped or not forgotten:
        click.echo("Stopped: " + ", ".join(stopped) if stopped else "Nothing to stop.")


def _status_lines(status: dict[str, Any] | None) -> list[str]:
    if not status:
        return ["  (no status yet)"]
    lines = [
        f"  {s['name']:<16} {s['state']:<8} in {s['records_in']:>9,}  out {s['records_out']:>9,}  "
        f"{s['rate']:>8,.0f} msg/s  lag {s['lag'] if s['lag'] is not None else '?':>6}  "
        f"dlq {s['dlq']:>5}  late {s.get('late', 0):>5}  repeats {s.get('duplicates', 0):>5}  "
        f"errors {s['errors']}  {s['guarantee']}"
        + (f"\n    last error: {s['last_error']}" if s.get("last_error") else "")
        + (
            f"\n    schema: {len(s['new_fields'])} field(s) added since export "
            f"({', '.join(s['new_fields'])})"
            if s.get("new_fields")
            else ""
        )
        + (
            f"\n    schema: {s['conflicts']:,} type conflict(s) (dead letters)"
            if s.get("conflicts")
            else ""
        )
        for s in status["steps"]
    ]
    return lines + [f"  notice: {n}" for n in status.get("notices", ())]


def _duration(seconds: float) -> str:
    """Compact duration for people.

    >>> _duration(3725.2)
    '1h 2m 5s'
    """
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


if __name__ == "__main__":  # pragma: no cover
    main()
