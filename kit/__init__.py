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
    from ._errors import BrokerUnreachable, ConfigurationError, KitError
    from .connection import Connection, TopicInfo, connect

__version__ = "0.1.0"

__all__ = [
    "BrokerUnreachable",
    "ConfigurationError",
    "Connection",
    "KitError",
    "TopicInfo",
    "__version__",
    "connect",
]

_LAZY = {
    "BrokerUnreachable": "._errors",
    "ConfigurationError": "._errors",
    "KitError": "._errors",
    "Connection": ".connection",
    "TopicInfo": ".connection",
    "connect": ".connection",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
