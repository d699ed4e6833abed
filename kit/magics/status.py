"""%stream status [--once]: running chains and services (per step records,
msg/s, lag, DLQ, errors, guarantee), live."""

from __future__ import annotations

from typing import Any

from IPython.core.display import HTML
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument("--once", action="store_true", help="a static table instead of a live one")
def status(line: str) -> None:
    """Status of the chains and services the kit started."""


def run(magics: Any, line: str) -> Any:
    from ..live.status import StatusView, status_html
    from ..process import ended_services, list_services

    args = parse_argstring(status, line)
    from ..headless import is_headless

    if args.once or is_headless():
        return HTML(status_html(list_services(), ended_services()))
    return StatusView(refresh=1.0).start()
