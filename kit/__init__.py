"""jupyter-streamkit: attach notebooks to live Kafka streams.

The public API is small and loads lazily, so ``import kit`` and
``%load_ext kit`` stay fast:

>>> import kit
>>> "connect" in kit.__all__
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import config
    from ._errors import BrokerUnreachable, ConfigurationError, KitError, KitWarning
    from .chain.step import ChainError
    from .connection import Connection, TopicInfo, connect
    from .io.demo import demo
    from .io.read import read
    from .io.replay import replay
    from .live.plot import LivePlot, plot
    from .live.table import peek
    from .live.topics import topics
    from .models import train_per_key
    from .ops import export, run, status, stop
    from .runtime.models import Registry, registry

__version__ = "0.1.0"

__all__ = [
    "BrokerUnreachable",
    "ChainError",
    "ConfigurationError",
    "Connection",
    "KitError",
    "KitWarning",
    "LivePlot",
    "Registry",
    "TopicInfo",
    "__version__",
    "config",
    "connect",
    "demo",
    "export",
    "peek",
    "plot",
    "read",
    "registry",
    "replay",
    "run",
    "status",
    "stop",
    "topics",
    "train_per_key",
]

_LAZY = {
    "BrokerUnreachable": "._errors",
    "ConfigurationError": "._errors",
    "KitError": "._errors",
    "KitWarning": "._errors",
    "ChainError": ".chain.step",
    "config": "._config",
    "Connection": ".connection",
    "TopicInfo": ".connection",
    "connect": ".connection",
    "read": ".io.read",
    "demo": ".io.demo",
    "replay": ".io.replay",
    "peek": ".live.table",
    "plot": ".live.plot",
    "LivePlot": ".live.plot",
    "topics": ".live.topics",
    "export": ".ops",
    "run": ".ops",
    "status": ".ops",
    "stop": ".ops",
    "train_per_key": ".models",
    "Registry": ".runtime.models",
    "registry": ".runtime.models",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kit``: register the ``%stream`` magics."""
    from . import runtime  # noqa: F401  (quiets a dependency's warning)
    from .magics import StreamMagics

    ipython.register_magics(StreamMagics(ipython))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
