"""``kit export``, ``kit run``, ``kit status`` and ``kit stop`` (thin over
:mod:`kit.ops`)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from . import _friendly, broker_option, main


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
    help="Where the sample is read (default: the address the notebook connects "
    "to, else a running embedded broker).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
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
    as_json: bool,
) -> None:
    """Export NOTEBOOK's %%stream chain as a service in OUTDIR.

    Unless --no-parity, the chain's prototypes run on a sample of its input
    topics, which is saved with a parity test (test_service.py); the sample
    is read from --broker/KIT_BROKER, the address the notebook connects to,
    or a running embedded broker (none is started for it).
    """
    from ..connection import connect
    from ..ops.exporting import export

    done = export(
        outdir, notebook=notebook, name=name, steps=list(steps) or None,
        parity=not no_parity, replicas=replicas, pipeline=pipeline,
        connection=connect(address) if address else None,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(done.to_dict()))
    else:
        click.echo(done.message())


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

    from .. import _logs, process
    from ..connection import connect
    from ..ops.services import run

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a supervisor, `kill`) stops the service too, like Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    conn = connect(address)
    service_name = name or Path(folder).resolve().name
    try:
        service = run(folder, name=service_name, connection=conn, detach=True)
    except KeyboardInterrupt:
        process.stop_service(service_name)
        raise
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
    if gone is None:  # no record of an end of its own: someone stopped it
        click.echo(f"Service {service_name!r} was stopped (kit stop, or elsewhere).")
        return
    how = gone.how
    click.echo(
        f"Service {service_name!r} {how}; its log ({service.log}) ends:", err=True
    )
    click.echo(_logs.tail(service.log), err=True)
    raise SystemExit(1)


#: ``--all``, as in ``%stream status/stop --all``: from a shell, every
#: service is in reach anyway (no kernel started them).
all_option = click.option(
    "--all", "everyone", is_flag=True, help="Every service (what a shell sees anyway)."
)


@main.command("status")
@click.argument("name", required=False)
@all_option
@_friendly
def status_command(name: str | None, everyone: bool) -> None:
    """Chains and services the kit started (live runs and `kit run`): all,
    or NAME (or those whose name contains it)."""
    from ..ops.services import status

    report = status(name, all=True)
    if name is not None and not report.services and not report.ended:
        from ..ops.services import _others

        every = status(all=True)
        known = [s.name for s in every.services] + [e.name for e in every.ended]
        click.echo(f"No service matches {name!r}." + _others(name, known))
        raise SystemExit(1)
    if not report.services:
        click.echo("No service is running.")
    for service in report.services:
        click.echo(f"{service.name}  pid {service.pid}  {service.folder}")
        for line in _status_lines(service.status()):
            click.echo(line)
    for gone in report.ended:
        when = time.strftime("%H:%M:%S", time.localtime(gone.ended_at))
        click.echo(f"{gone.name}  {gone.how} at {when}; its log ({gone.log}) ends:")
        for line in gone.log_tail.splitlines():
            click.echo(f"  {line}")


@main.command("stop")
@click.argument("name", required=False)
@all_option
@_friendly
def stop_command(name: str | None, everyone: bool) -> None:
    """Stop services the kit started: all, or NAME (or those whose name
    contains it); clears the records of those that ended on their own."""
    from ..ops.services import stop

    done = stop(name, all=True)
    for line in done.lines(name):
        click.echo(line)
    if name is not None and not done.matched:
        raise SystemExit(1)


def _status_lines(status: dict[str, Any] | None) -> list[str]:
    if not status:
        return ["  (no status yet)"]
    width = max([8, *(len(s["state"]) for s in status["steps"])])
    lines = [
        f"  {s['name']:<16} {s['state']:<{width}} in {s['records_in']:>9,}  out {s['records_out']:>9,}  "
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
