"""%stream status: running chains and services (per step records, msg/s, lag, DLQ, errors, guarantee)."""

from __future__ import annotations

from typing import Any

from IPython.core.display import HTML
from IPython.core.magic_arguments import magic_arguments, parse_argstring


@magic_arguments()
def status(line: str) -> None:
    """Status of the chains and services the kit started."""


def run(magics: Any, line: str) -> Any:
    from ..process import list_services
    from .run import status_html

    parse_argstring(status, line)
    return HTML(status_html(list_services()))
