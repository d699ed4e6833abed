"""%stream plot TOPIC [--y speed,rpm] [--by car] [--window 30s|ROWS] [--kind line|scatter|step] [--overlay] [--for DURATION]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ._args import glue_negative, user_value


@magic_arguments()
@argument("source", help="a topic, or the name of a DataFrame variable")
@argument("--x", default="_timestamp", help="x column (default: the record time)")
@argument("--y", default="speed,rpm", help="comma-separated y columns")
@argument("--by", default=None, help="one coloured series per value of this column")
@argument(
    "--window",
    default="30s",
    help="a duration (30s, 5m) or a number of rows per series",
)
@argument("--kind", choices=["line", "scatter", "step"], default="line")
@argument("--overlay", action="store_true", help="all y in one figure")
@argument("--title", default=None)
@argument("--height", type=int, default=None)
@argument(
    "--from", dest="start", default="latest", help="where a live plot starts reading"
)
@argument(
    "--for", dest="duration", default=None, help="stop after a duration, e.g. 60s"
)
@argument(
    "--until-idle",
    dest="idle",
    default=None,
    help="stop after this long without records, e.g. 5s",
)
def plot(line: str) -> None:
    """A live (or static, for a DataFrame) Bokeh plot."""


def run(magics: Any, line: str) -> Any:
    import polars as pl

    from .._time import parse_duration
    from ..live.plot import plot as live_plot

    args = parse_argstring(plot, glue_negative(line))
    source = user_value(magics.shell, args.source)
    if not isinstance(source, pl.DataFrame):
        source = args.source
    window: str | int = int(args.window) if args.window.isdigit() else args.window
    return live_plot(
        source,
        x=args.x,
        y=[c.strip() for c in args.y.split(",") if c.strip()],
        by=args.by,
        window=window,
        kind=args.kind,
        title=args.title,
        height=args.height,
        overlay=args.overlay,
        start=args.start,
        duration=None if args.duration is None else parse_duration(args.duration),
        idle=None if args.idle is None else parse_duration(args.idle),
    )
