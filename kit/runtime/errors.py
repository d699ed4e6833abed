"""The root of the kit's exception tree, and the runtime's errors.

The runtime ships alone in exported services (as ``kit_runtime``), so the
base classes live here; :mod:`kit._errors` adds the rest of the tree::

    KitError                      base of every error the kit raises on purpose
    ├── ConfigurationError        a setting or argument has a bad value
    ├── DeliveryFailed            outputs the broker did not take (nothing committed)
    ├── StepBroken                a step failed on every record, batch after batch
    ├── BrokerChanged             another cluster answers at a service's address
    └── KitWarning                a warning: something you may not expect

``ConfigurationError`` is also a ``ValueError``; the runtime's errors are also
``RuntimeError``s, as they were before the tree.

>>> issubclass(DeliveryFailed, KitError), issubclass(ConfigurationError, ValueError)
(True, True)
"""

from __future__ import annotations

__all__ = [
    "BrokerChanged",
    "ConfigurationError",
    "DeliveryFailed",
    "KitError",
    "KitWarning",
    "StepBroken",
]


class KitError(Exception):
    """Base class of the errors raised by the kit."""


class ConfigurationError(KitError, ValueError):
    """A setting, environment variable or argument has an invalid value."""


class DeliveryFailed(KitError, RuntimeError):
    """The broker did not take some outputs of a batch; its input offsets
    were not committed, so a restart replays it."""


class StepBroken(KitError, RuntimeError):
    """A step failed on every record of several batches in a row."""


class BrokerChanged(KitError, RuntimeError):
    """The broker at the service's address is another cluster than the one
    it started on (a memory broker restarted without its data, or the
    address points elsewhere now): its offsets, state and record identities
    belong to the old one, so the service stops instead of mixing them."""


class KitWarning(KitError, UserWarning):
    """Something the kit did that you may not expect (bad records skipped...)."""
