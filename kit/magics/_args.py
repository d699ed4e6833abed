"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError

__all__ = ["split_target", "user_value"]

_TARGET = re.compile(r"\s*->\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def split_target(line: str) -> tuple[str, str | None]:
    """Split ``... -> name`` into the arguments and the variable name.

    >>> split_target("telemetry --last 5 -> df")
    ('telemetry --last 5', 'df')
    >>> split_target("telemetry")
    ('telemetry', None)
    """
    match = _TARGET.search(line)
    if match is None:
        if "->" in line:
            raise UsageError(
                f"Cannot assign to {line.split('->', 1)[1].strip()!r}: after '->' "
                "write a Python variable name, e.g. `-> df`."
            )
        return line, None
    return line[: match.start()].rstrip(), match.group(1)


def user_value(shell: Any, name: str) -> Any:
    """The user's variable ``name``, or None if there is none."""
    return shell.user_ns.get(name) if name.isidentifier() else None


_NEGATIVE = re.compile(r"(--from|--since|--until)\s+(-\S+)")


def glue_negative(line: str) -> str:
    """``--from -5m`` → ``--from=-5m`` (argparse reads ``-5m`` as an option).

    >>> glue_negative("telemetry --from -5m --rows 3")
    'telemetry --from=-5m --rows 3'
    """
    return _NEGATIVE.sub(r"\1=\2", line)
