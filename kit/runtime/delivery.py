"""Delivering a step's records: wait until the producer has delivered all
of them (however long the broker is away), or say which were not."""

from __future__ import annotations

from typing import Any

from .errors import DeliveryFailed

__all__ = ["DeliveryFailed", "await_delivery", "produce_retrying"]


def await_delivery(
    producer: Any, failures: list[str], step: str, *, poll: float = 5.0
) -> None:
    """Return once every record handed to ``producer`` is delivered.

    ``flush`` returning leaves records undelivered when it times out (the
    broker is away), so it is repeated until none is left, however long the
    broker takes to come back; librdkafka fails a record after
    ``message.timeout.ms`` (5 minutes by default), which ``failures`` (filled
    by the delivery callback) then holds.

    Raises:
        DeliveryFailed: a record could not be delivered.
    """
    while producer.flush(poll) > 0 and not failures:
        pass
    if failures:
        raise DeliveryFailed(
            f"{len(failures)} record(s) of step {step!r} were not "
            f"delivered ({failures[0]}); offsets were not committed."
        )


def produce_retrying(
    producer: Any, topic: str, value: Any, key: Any, timestamp: Any, headers: Any
) -> None:
    while True:
        try:
            producer.produce(
                topic, value=value, key=key, timestamp=timestamp, headers=headers
            )
            return
        except BufferError:
            producer.poll(0.05)
