"""The end of a log file, for error messages about a process the kit started."""

from __future__ import annotations

from pathlib import Path

__all__ = ["tail"]


def tail(path: str | Path, lines: int = 15) -> str:
    """The last ``lines`` lines of ``path``, or ``(no log)``.

    >>> tail("/nonexistent/kit.log")
    '(no log)'
    """
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
