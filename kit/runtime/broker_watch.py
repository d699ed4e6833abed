"""Watching a service's broker: unreachable, an input topic missing, or
another cluster at the same address (see :class:`BrokerWatch`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from .errors import BrokerChanged

if TYPE_CHECKING:
    from .profile import BrokerSettings
    from .status import StepStatus

__all__ = ["NO_INPUT", "UNREACHABLE", "BrokerChanged", "BrokerWatch"]

#: What a running step's state says while the broker cannot be reached.
UNREACHABLE = "waiting for the broker"
#: ... and while its input topic does not exist.
NO_INPUT = "waiting for its input"


class BrokerWatch:
    """Watches the service's broker: shows one it cannot reach in the running
    steps' state (``"waiting for the broker"``, since when in
    ``last_error``), so no status says "running" while nothing can run, and
    puts them back once it answers (the steps' own clients keep retrying
    meanwhile); a broker that answers as another cluster than at start
    raises :class:`BrokerChanged`."""

    def __init__(
        self, settings: BrokerSettings, statuses: dict[str, StepStatus]
    ) -> None:
        self.settings = settings
        self.statuses = statuses
        self.cluster: str | None = None
        self.down_since: float | None = None

    def metadata(self, timeout: float = 2.0) -> Any:
        """The address's metadata now (None: no answer)."""
        from confluent_kafka.admin import AdminClient

        config = {
            **self.settings.client_config(),
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 200,
        }
        try:
            # A client of its own each time: librdkafka keeps a client on the
            # cluster it first met, and would not say that another answers.
            return AdminClient(config).list_topics(timeout=timeout)
        except Exception:
            return None

    def check(self) -> None:
        """Look once; update the steps' state (see the class docstring)."""
        found = self.metadata()
        if found is None:
            self.down_since = self.down_since or time.time()
            since = time.strftime("%H:%M:%S", time.localtime(self.down_since))
            self._show(
                UNREACHABLE,
                lambda _s: (
                    f"broker unreachable at {self.settings.address} since {since}"
                ),
            )
            return
        cluster = str(found.cluster_id)
        self.cluster = self.cluster or cluster
        if cluster != self.cluster:
            raise BrokerChanged(
                f"the broker at {self.settings.address} is another cluster than the "
                f"one the service started on ({cluster!r}, was {self.cluster!r}): it "
                "restarted without its data, or the address points elsewhere now. "
                "The service stopped rather than mix the two; start it again "
                "(`%stream run`, `kit run`)."
            )
        self.down_since = None
        self._clear(UNREACHABLE)
        missing = {
            s.name for s in self.statuses.values() if s.input not in found.topics
        }
        self._clear(NO_INPUT, keep=missing)
        self._show(
            NO_INPUT,
            lambda s: (
                f"its input topic {s.input!r} does not exist on "
                f"{self.settings.address}; it starts reading once it does"
            ),
            only=missing,
        )

    def _show(self, state: str, why: Any, only: set[str] | None = None) -> None:
        for status in self.statuses.values():
            if only is not None and status.name not in only:
                continue
            if status.state == "running" or status.state in (UNREACHABLE, NO_INPUT):
                status.state = state
                status.last_error = why(status)
                status.lag = None  # not known meanwhile

    def _clear(self, state: str, keep: Collection[str] = ()) -> None:
        for status in self.statuses.values():
            if status.state == state and status.name not in keep:
                status.state = "running"

    def run(self, stop: threading.Event, every: float = 2.0) -> None:
        while True:
            self.check()
            # While the broker is away, look again at once: a broker that comes
            # back as another cluster must be seen before the steps' own
            # clients meet it (librdkafka aborts the process when a client
            # finds itself connected to two clusters).
            if stop.wait(0.1 if self.down_since else every):
                return
