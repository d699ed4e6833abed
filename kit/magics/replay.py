"""%stream replay SOURCE TOPIC [--speed X | --fast] [--key COL] [--timestamp COL]
[--timestamp-unit s|ms|us|ns] [--keep-timestamps]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ._args import user_value


@magic_arguments()
@argument(
    "source",
    help="a JSON Lines, CSV or Parquet file, or the name of a DataFrame variable",
)
@argument("topic")
@argument(
    "--speed",
    type=float,
    default=1.0,
    help="1 = recorded timing, 10 = ten times faster",
)
@argument("--fast", action="store_true", help="as fast as possible")
@argument("--key", default=None, help="column that keys each record")
@argument("--timestamp", default=None, help="column holding the record times")
@argument(
    "--timestamp-unit",
    choices=("s", "ms", "us", "ns"),
    default=None,
    help="unit of a numeric time column (default: from its name, e.g. session_ms)",
)
@argument(
    "--keep-timestamps",
    action="store_true",
    help="stamp records with their original times",
)
def replay(line: str) -> None:
    """Replay recorded data into a topic in the background."""


def run(magics: Any, line: str) -> Any:
    import polars as pl

    from ..io.replay import replay as start_replay

    args = parse_argstring(replay, line)
    source = user_value(magics.shell, args.source)
    if not isinstance(source, pl.DataFrame):
        source = args.source
    return start_replay(
        source,
        args.topic,
        speed=None if args.fast else args.speed,
        key=args.key,
        timestamp=args.timestamp,
        timestamp_unit=args.timestamp_unit,
        keep_timestamps=args.keep_timestamps,
    )
