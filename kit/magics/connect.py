"""%stream connect [ADDRESS] [--profile local|kafka|quix]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument(
    "address",
    nargs="?",
    default=None,
    help="host:port (default: KIT_BROKER or the embedded broker)",
)
@argument("--profile", choices=["local", "kafka", "quix"], default=None)
def connect(line: str) -> None:
    """Connect to a broker and show its profile and guarantees."""


def run(magics: Any, line: str) -> None:
    import kit

    args = parse_argstring(connect, line)
    conn = kit.connect(args.address, profile=args.profile)
    print(conn.describe())
