"""%stream demo telemetry [--topic telemetry] [--rate N] [--cars N] [--venue V] [--for DURATION] [--count N]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .._time import parse_duration


@magic_arguments()
@argument("kind", choices=["telemetry"], help="what to produce")
@argument("--topic", default="telemetry")
@argument(
    "--rate", type=float, default=50.0, help="records per second (all cars together)"
)
@argument("--cars", type=int, default=5)
@argument("--venue", default="baku", help="baku or monza")
@argument(
    "--for", dest="duration", default=None, help="stop after a duration, e.g. 60s"
)
@argument("--count", type=int, default=None, help="stop after N records")
def demo(line: str) -> None:
    """Produce synthetic race telemetry in the background."""


def run(magics: Any, line: str) -> None:
    from ..io.demo import demo as start_demo

    args = parse_argstring(demo, line)
    job = start_demo(
        args.topic,
        rate=args.rate,
        cars=args.cars,
        venue=args.venue,
        duration=None if args.duration is None else parse_duration(args.duration),
        count=args.count,
    )
    from .._demo.feed import AttachedFeed

    if isinstance(job, AttachedFeed):  # kit demo's producer feeds the topic
        print(job.message())
    else:
        print(f"Producing demo telemetry into {args.topic!r} at {args.rate:g} msg/s "
              "(`%stream stop` to end).")  # fmt: skip
    magics.shell.user_ns["_kit_demo"] = job  # reachable, e.g. to wait for it
