"""%stream stop [NAME] [--all]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument(
    "name", nargs="?", default=None, help="stop only those whose name contains this"
)
@argument(
    "--all",
    action="store_true",
    help="also services other kernels and shells started",
)
def stop(line: str) -> None:
    """Stop live peeks, topic tables, replays, demo producers and the chains
    this kernel started (``--all``: other kernels' and shells' services too)."""


def run(magics: Any, line: str) -> None:
    from .. import _jobs, process

    args = parse_argstring(stop, line)
    mine = not args.all
    stopped: list[Any] = list(_jobs.stop(args.name))
    for service in process.list_services(mine=mine):
        if args.name is None or args.name in service.name:
            process.stop_service(service.name)
            magics.live.pop(service.name, None)
            stopped.append(service)
    forgotten = process.forget_ended(args.name, mine=mine)
    if forgotten:
        print("Cleared ended: " + ", ".join(e.name for e in forgotten))
    others = [
        s.name
        for s in process.list_services()
        if args.name is None or args.name in s.name
    ]
    if stopped:
        print("Stopped: " + ", ".join(job.name for job in stopped))
    elif not forgotten:
        print(
            "Nothing is running."
            if args.name is None
            else f"Nothing running matches {args.name!r}."
        )
    if others:
        print(
            f"Still running, started elsewhere: {', '.join(others)}: "
            "`%stream stop --all` stops them too."
        )
