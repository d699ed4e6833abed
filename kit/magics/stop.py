"""%stream stop [NAME] [--all]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument(
    "name",
    nargs="?",
    default=None,
    help="stop only this one (or those whose name contains it)",
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
    from ..ops.services import stop as stop_all

    args = parse_argstring(stop, line)
    for text in stop_all(args.name, all=args.all, warn=False).lines(
        args.name, "%stream stop --all"
    ):
        print(text)
