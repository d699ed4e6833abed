"""``kit broker start/status/stop`` and ``kit topics``."""

from __future__ import annotations

import click

from . import _duration, _friendly, broker_option, main


@main.group("broker")
def broker_group() -> None:
    """The embedded Kafka-protocol broker (Tansu, no Docker, no JVM)."""


@broker_group.command("start")
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
    from .. import _broker

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


@broker_group.command("status")
@_friendly
def broker_status() -> None:
    """Address, pid, uptime, topics and memory of the embedded broker."""
    from .. import _broker

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


@broker_group.command("stop")
@_friendly
def broker_stop() -> None:
    """Stop the embedded broker (its in-memory topics are gone)."""
    from .. import _broker

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
    from ..connection import connect

    conn = connect(address)
    rows = conn.topics()
    if not rows:
        click.echo("No topics.")
        return
    width = max(len(r.name) for r in rows)
    click.echo(f"{'topic'.ljust(width)}  partitions  messages")
    for row in rows:
        click.echo(f"{row.name.ljust(width)}  {row.partitions:>10}  {row.messages:>8}")
