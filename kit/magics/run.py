"""%stream run [STEP ...] [--name SERVICE] [--detach]: the chain, live
(:mod:`kit.ops.live`)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

__all__ = ["run"]


@magic_arguments()
@argument(
    "steps", nargs="*", help="steps to run (default: all, with what they depend on)"
)
@argument(
    "--name", default=None, help="service name (default: StreamMagics.service_name)"
)
@argument("--detach", action="store_true", help="keep running after the kernel ends")
def run_args(line: str) -> None:
    """Run the chain live against the stream."""


def run(magics: Any, line: str) -> Any:
    from ..ops.live import start_live

    args = parse_argstring(run_args, line)
    return start_live(
        args.steps or None, name=args.name or magics.service_name, detach=args.detach
    )
