"""%stream status [--once] [--all]: the chains and services this kernel
started (per step records, msg/s, lag, DLQ, late records, errors, guarantee),
live; ``--all`` adds those other notebooks and shells started."""

from __future__ import annotations

from typing import Any

from IPython.core.display import HTML
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument("--once", action="store_true", help="a static table instead of a live one")
@argument(
    "--all",
    action="store_true",
    help="also services other kernels and shells started (`kit status` lists all)",
)
def status(line: str) -> None:
    """Status of the chains and services this kernel started."""


def run(magics: Any, line: str) -> Any:
    from ..headless import is_headless
    from ..live.status import StatusView, status_page

    args = parse_argstring(status, line)
    if args.once or is_headless():
        return HTML(status_page(mine=not args.all))
    return StatusView(refresh=1.0, mine=not args.all).start()
