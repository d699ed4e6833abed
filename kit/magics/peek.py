"""%stream peek TOPIC [--from POSITION] [--rows N] [--format F] [--count N] [--for DURATION]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .._time import parse_duration
from ._args import glue_negative


@magic_arguments()
@argument("topic")
@argument(
    "--from",
    dest="start",
    default="latest",
    help="latest (default), earliest, an offset, a time or a relative time like -5m",
)
@argument(
    "--rows",
    type=int,
    default=None,
    help="rows shown (default: StreamMagics.peek_rows)",
)
@argument(
    "--format", default="json", help="json, str, bytes or a quixstreams deserializer"
)
@argument("--count", type=int, default=None, help="stop after N records")
@argument(
    "--for", dest="duration", default=None, help="stop after a duration, e.g. 30s"
)
@argument(
    "--until-idle",
    dest="idle",
    default=None,
    help="stop after this long without records, e.g. 5s",
)
def peek(line: str) -> None:
    """A live table of the newest records of a topic."""


def run(magics: Any, line: str) -> Any:
    from ..live.table import peek as live_peek

    args = parse_argstring(peek, glue_negative(line))
    return live_peek(
        args.topic,
        start=args.start,
        rows=args.rows or None,  # None: the settings' (kit._config)
        format=args.format,
        count=args.count,
        duration=None if args.duration is None else parse_duration(args.duration),
        idle=None if args.idle is None else parse_duration(args.idle),
    )
