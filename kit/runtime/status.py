"""Live counters of a running step, and the status file a service writes."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["StepStatus", "write_status"]


@dataclass
class StepStatus:
    """Counters of one step; updated by its runner, read by the status writer."""

    name: str
    kind: str
    input: str
    output: str
    guarantee: str
    records_in: int = 0
    records_out: int = 0
    dlq: int = 0
    late: int = 0  # records a window dropped because they came after it closed
    duplicates: int = 0  # records dropped as repeats of ones seen (same kit-id)
    conflicts: int = 0  # bad records whose value had another type than before
    #: fields of the input that appeared since export (schema drift)
    new_fields: list[str] = field(default_factory=list)
    errors: int = 0
    last_error: str | None = None
    lag: int | None = None
    rate: float = 0.0
    state: str = "starting"
    _window: list[float] = field(default_factory=lambda: [time.monotonic(), 0.0])

    def count_in(self, n: int) -> None:
        self.records_in += n
        start, counted = self._window
        counted += n
        now = time.monotonic()
        if now - start >= 1.0:
            self.rate = counted / (now - start)
            self._window = [now, 0.0]
        else:
            self._window = [start, counted]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_window")
        now = time.monotonic()
        if now - self._window[0] > 2.0:  # nothing for a while
            data["rate"] = 0.0
        return data


def write_status(
    path: str, service: str, steps: list[StepStatus], **extra: Any
) -> None:
    """Write the service's status as JSON (atomically)."""
    data = {
        "service": service,
        "pid": os.getpid(),
        "updated": time.time(),
        "steps": [s.as_dict() for s in steps],
        **extra,
    }
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
