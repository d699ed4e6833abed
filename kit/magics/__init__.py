"""``%stream``: the notebook's way into the kit.

``%load_ext kit`` registers :class:`StreamMagics`. Each subcommand lives in
its own module (``connect``, ``topics``, ``peek``, ``read``, ``replay``,
``demo``, ``stop``), parses its arguments with IPython's
``magic_arguments`` and calls the matching ``kit`` function. Mistakes raise
``UsageError`` (no traceback), naming the bad value and the fix.

Settings (``%config StreamMagics.peek_rows = 50``) are :class:`kit._config.KitConfig`'s.
"""

from __future__ import annotations

import importlib
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .._config import KitConfig, use
from .._errors import KitError

__all__ = ["SUBCOMMANDS", "StreamMagics"]

#: subcommand → (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "connect": (
        ".connect",
        "connect [ADDRESS] [--profile P]: connect and show the guarantees",
    ),
    "topics": (".topics", "topics [--once]: a live table of topics"),
    "peek": (
        ".peek",
        "peek TOPIC [--from latest|earliest|OFFSET|TIME|-5m] [--rows N]: live newest records",
    ),
    "plot": (
        ".plot",
        "plot TOPIC [--y speed,rpm] [--by car] [--window 30s]: a live Bokeh plot",
    ),
    "read": (
        ".read",
        "read TOPIC [--last N] [--since T] [--until T] [--limit N] [-> var]: a DataFrame",
    ),
    "replay": (
        ".replay",
        "replay SOURCE TOPIC [--speed X | --fast] [--key COL]: recorded data into a topic",
    ),
    "demo": (
        ".demo",
        "demo telemetry [--topic T] [--rate N]: synthetic race telemetry",
    ),
    "run": (
        ".run",
        "run [STEP ...] [--name S] [--detach]: run the %%stream chain live",
    ),
    "status": (
        ".status",
        "status [--all]: this kernel's chains (records, msg/s, lag, DLQ, late, errors)",
    ),
    "export": (
        ".export",
        "export OUTDIR [--name N] [--chain STEP ...]: the chain as a service",
    ),
    "stop": (
        ".stop",
        "stop [NAME] [--all]: stop live views, replays, demos and this kernel's chains",
    ),
}


def usage() -> str:
    lines = [f"  %stream {text}" for _module, text in SUBCOMMANDS.values()]
    return "Usage:\n" + "\n".join(lines)


@magics_class
class StreamMagics(Magics, KitConfig):
    """The ``%stream`` magics. Their traits are the kit's settings
    (:class:`kit._config.KitConfig`, shared with the library's defaults), set
    with ``%config StreamMagics.peek_rows = 50``."""

    def __init__(self, shell: Any) -> None:
        KitConfig.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        shell.configurables.append(self)
        use(self)  # kit.peek, kit.read... default to these settings too

    @property
    def prototypes(self) -> dict[str, Any]:
        """The steps' prototypes (kept in :data:`kit.ops.session.session`)."""
        from ..ops.session import session

        return session.prototypes

    @property
    def live(self) -> dict[str, list[str]]:
        """This kernel's live runs (kept in :data:`kit.ops.session.session`)."""
        from ..ops.session import session

        return session.live

    @cell_magic("stream")  # type: ignore[arg-type,unused-ignore]  # IPython 9 stubs
    def stream_cell(self, line: str, cell: str) -> Any:
        """A chain step (``%%stream NAME --input TOPIC|STEP``) or helpers."""
        from .cell import run_cell

        try:
            return run_cell(self, line, cell)
        except (KitError, ValueError) as exc:
            raise UsageError(str(exc)) from None

    @line_magic("stream")  # type: ignore[arg-type,unused-ignore]  # IPython 9 stubs
    def stream(self, line: str) -> Any:
        """Attach the notebook to live topics. ``%stream`` alone lists the subcommands."""
        name, _, rest = line.strip().partition(" ")
        if not name or name in ("-h", "--help", "help"):
            print(usage())
            return None
        entry = SUBCOMMANDS.get(name)
        if entry is None:
            raise UsageError(
                f"%stream has no subcommand {name!r}; choose one of "
                f"{', '.join(SUBCOMMANDS)} (e.g. `%stream peek telemetry`)."
            )
        module = importlib.import_module(entry[0], __name__)
        try:
            return module.run(self, rest)
        except (KitError, ValueError) as exc:
            raise UsageError(str(exc)) from None
