"""The kernel's session: what the ``%%stream`` cells and ``%stream run`` of
one Python process share (the chain itself is in :mod:`kit.chain.capture`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Session", "session"]


@dataclass
class Session:
    """State of this process's notebook work.

    Attributes:
        prototypes: each step's last prototype (its input snapshot, schema
            and output), reused while neither it nor an upstream step changes.
        live: the live runs this process started: service name -> the names
            of the steps it runs (re-running one of them restarts it).
    """

    prototypes: dict[str, Any] = field(default_factory=dict)
    live: dict[str, list[str]] = field(default_factory=dict)


#: The one session of this process.
session = Session()
