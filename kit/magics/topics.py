"""%stream topics [--once]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument("--once", action="store_true", help="a DataFrame now instead of a live table")
def topics(line: str) -> None:
    """Topics with partitions, messages and live msg/s."""


def run(magics: Any, line: str) -> Any:
    from ..live import topics as live

    args = parse_argstring(topics, line)
    if args.once:
        return live.topics_frame()
    return live.topics()
