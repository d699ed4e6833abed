"""%stream stop [NAME]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument(
    "name", nargs="?", default=None, help="stop only jobs whose name contains this"
)
def stop(line: str) -> None:
    """Stop live peeks, topic tables, replays and demo producers of this kernel."""


def run(magics: Any, line: str) -> None:
    from .. import _jobs, process

    args = parse_argstring(stop, line)
    stopped: list[Any] = list(_jobs.stop(args.name))
    for service in process.list_services():
        if args.name is None or args.name in service.name:
            process.stop_service(service.name)
            magics.live.pop(service.name, None)
            stopped.append(service)
    forgotten = process.forget_ended(args.name)
    if forgotten:
        print("Cleared ended: " + ", ".join(e.name for e in forgotten))
    if not stopped:
        if forgotten:
            return
        print(
            "Nothing is running."
            if args.name is None
            else f"Nothing running matches {args.name!r}."
        )
        return
    print("Stopped: " + ", ".join(job.name for job in stopped))
