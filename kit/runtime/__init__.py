"""The runtime shared by live notebook runs and exported services.

Everything under ``kit.runtime`` imports only the standard library,
``confluent_kafka``, ``quixstreams`` and ``polars``: it is copied as-is into
every exported service, so it must never import Jupyter, IPython, Bokeh or
the rest of the kit.
"""

from __future__ import annotations

import warnings

from .probe import Capabilities, probe_capabilities
from .profile import BrokerSettings, Profile, settings_from_env


def _quiet_dependencies() -> None:
    """Silence a deprecation warning no kit user can act on.

    quixstreams imports confluent-kafka's schema registry client, which
    imports authlib's httpx integration, which warns "The httpx module is
    deprecated" at every start (a pink stderr box in notebooks). authlib
    installs an "always" filter for its warnings when it is imported, so
    ours goes in front of it afterwards.
    """
    try:
        from authlib.deprecate import (  # type: ignore[import-untyped]
            AuthlibDeprecationWarning,
        )
    except ImportError:
        return
    warnings.filterwarnings(
        "ignore",
        message="The httpx module is deprecated",
        category=AuthlibDeprecationWarning,
    )


_quiet_dependencies()

__all__ = [
    "BrokerSettings",
    "Capabilities",
    "Profile",
    "probe_capabilities",
    "settings_from_env",
]
