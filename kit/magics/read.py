"""%stream read TOPIC [--last N] [--since T] [--until T] [--limit N] [--errors E] [-> var]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ._args import glue_negative, split_target


@magic_arguments()
@argument("topic")
@argument("--last", type=int, default=None, help="the newest N records")
@argument(
    "--since", default=None, help="from this time (ISO, epoch, or relative like -5m)"
)
@argument("--until", default=None, help="up to this time (excluded)")
@argument(
    "--limit", type=int, default=None, help="at most N rows from the start of the range"
)
@argument("--errors", choices=["skip", "collect", "raise"], default="skip")
@argument("--format", default="json")
def read(line: str) -> None:
    """Read a bounded range of a topic into a Polars DataFrame (``-> var`` to keep it)."""


def run(magics: Any, line: str) -> Any:
    from ..io.read import read as read_topic

    arguments, target = split_target(line)
    args = parse_argstring(read, glue_negative(arguments))
    frame = read_topic(
        args.topic,
        last=args.last,
        since=args.since,
        until=args.until,
        limit=args.limit,
        errors=args.errors,
        format=args.format,
    )
    if target is None:
        return frame
    magics.shell.user_ns[target] = frame
    print(
        f"{target}: {frame.height:,} rows × {frame.width} columns from {args.topic!r}"
    )
    return None
