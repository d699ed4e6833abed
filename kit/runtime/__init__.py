"""The runtime shared by live notebook runs and exported services.

Everything under ``kit.runtime`` imports only the standard library,
``confluent_kafka``, ``quixstreams`` and ``polars``: it is copied as-is into
every exported service, so it must never import Jupyter, IPython, Bokeh or
the rest of the kit.
"""

from __future__ import annotations

from .probe import Capabilities, probe_capabilities
from .profile import BrokerSettings, Profile, settings_from_env

__all__ = [
    "BrokerSettings",
    "Capabilities",
    "Profile",
    "probe_capabilities",
    "settings_from_env",
]
