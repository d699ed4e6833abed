"""The one way a name given to ``stop`` (and friends) picks what it acts on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

__all__ = ["select"]

T = TypeVar("T")


def select(items: Iterable[T], query: str | None, name: Callable[[T], str]) -> list[T]:
    """The items ``query`` names: all without one; else the one whose name is
    exactly ``query``, if there is one; else every item whose name contains
    it (``%stream stop peek`` stops every peek).

    >>> names = ["live", "live-2", "peek telemetry"]
    >>> select(names, None, str)
    ['live', 'live-2', 'peek telemetry']
    >>> select(names, "live", str)  # the exact name wins
    ['live']
    >>> select(names, "e", str)
    ['live', 'live-2', 'peek telemetry']
    >>> select(names, "nope", str)
    []
    """
    items = list(items)
    if query is None:
        return items
    exact = [item for item in items if name(item) == query]
    return exact or [item for item in items if query in name(item)]
