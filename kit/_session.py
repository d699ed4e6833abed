"""The current connection: what ``kit.read`` & co. use when given none.

``kit.connect()`` makes its connection current; the first call that needs a
connection without one connects with the defaults (``KIT_BROKER``, else the
embedded broker).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["current", "peek", "set_current"]

_lock = threading.Lock()
_current: Connection | None = None


def set_current(connection: Connection | None) -> None:
    global _current
    with _lock:
        _current = connection


def peek() -> Connection | None:
    """The current connection, if there is one (never connects)."""
    with _lock:
        return _current


def current(connection: Connection | None = None) -> Connection:
    """``connection`` if given, else the current one (connecting if needed)."""
    if connection is not None:
        return connection
    with _lock:
        if _current is not None:
            return _current
    from .connection import connect

    return connect()  # connect() makes it current
