"""The batches a Polars step has in flight, and the order they finish in.

A batch is consumed, prepared (decoded, the step run: on a helper thread),
produced, and committed once every output of it is delivered. Batches finish
in the order they were consumed; at most one produced batch waits for its
commit (at-least-once), or a batch's outputs and input offsets commit in one
transaction (exactly-once). A batch the step failed on entirely is held back
until it is clear whether the step is broken (:mod:`.broken`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .broken import Breaker
from .delivery import await_delivery

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Batch", "Encoded", "InFlight"]

#: A batch's outputs encoded: values, keys, timestamps, identities.
Encoded = tuple[list[str], list[str | None], list[int], list[bytes]]


@dataclass
class Batch:
    """One micro-batch: its step output, what to commit once it is delivered,
    and its dead letters."""

    output: pl.DataFrame
    offsets: list[Any]  # TopicPartitions: last offset + 1 per input partition
    tag: str  # identifies the batch (aggregating steps' record identities)
    latest: int  # the batch's latest input time (for outputs without one)
    dead: list[tuple[Any, str]] = field(default_factory=list)
    #: the step failed on every record: (records, its error, where it failed)
    broken: tuple[int, str, str] | None = None


def merge(held: list[Batch], batch: Batch) -> Batch:
    """``batch`` with the dead letters and offsets of the batches held before it.

    >>> from confluent_kafka import TopicPartition as TP
    >>> a = Batch(None, [TP("t", 0, 5)], "b0.0", 10, [("m1", "bad")])
    >>> b = Batch(None, [TP("t", 0, 9), TP("t", 1, 2)], "b0.5", 7)
    >>> m = merge([a], b)
    >>> [(tp.partition, tp.offset) for tp in m.offsets], m.latest, m.dead
    ([(0, 9), (1, 2)], 10, [('m1', 'bad')])
    """
    offsets = {(tp.topic, tp.partition): tp for b in [*held, batch] for tp in b.offsets}
    return Batch(
        batch.output,
        list(offsets.values()),  # later batches' offsets win: they are higher
        batch.tag,
        max(b.latest for b in [*held, batch]),
        [d for b in [*held, batch] for d in b.dead],
    )


class InFlight:
    """Produces and commits a step's batches in order.

    ``encode(batch)`` encodes a batch's outputs (while the producer still
    delivers the batch before it); ``produce(batch, encoded, producer)``
    hands them and the batch's dead letters to the producer; ``failures``
    collects the producer's delivery errors.
    """

    def __init__(
        self,
        name: str,
        consumer: Any,
        producer: Any,
        failures: list[str],
        encode: Callable[[Batch], Encoded],
        produce: Callable[[Batch, Encoded, Any], None],
        *,
        transactional: bool,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.producer = producer
        self.failures = failures
        self.encode = encode
        self.produce = produce
        self.transactional = transactional
        self.pending: list[Future[Batch]] = []  # consumed, being prepared
        self.sent: list[Batch] = []  # produced, not yet committed (at most one)
        self.held: list[Batch] = []  # every record failed in the step: broken?
        self.breaker = Breaker(name)

    @property
    def busy(self) -> bool:
        """Batches are being prepared or wait for their commit."""
        return bool(self.pending or self.sent)

    def checkpoint(self) -> None:
        """Every output produced delivered, then commit the inputs."""
        if not self.sent:
            return
        await_delivery(self.producer, self.failures, self.name)
        self.consumer.commit(offsets=self.sent.pop().offsets, asynchronous=False)

    def send_next(self) -> None:
        """Produce the oldest prepared batch (waiting for it if need be)."""
        self.send(self.pending.pop(0).result())

    def send(self, batch: Batch) -> None:
        """Checkpoint the batch before ``batch`` (delivered meanwhile), then
        produce it; or hold it back while the step may be broken."""
        if batch.broken is not None:  # hold it back until it is clear why
            self.held.append(batch)
            if self.breaker.failed(*batch.broken):
                raise self.breaker.error()
            return
        self.breaker.ok()
        if self.held:  # bad records after all: dead letters with this batch
            batch = merge(self.held, batch)
            self.held.clear()
        encoded = self.encode(batch)
        if self.transactional:
            producer = self.producer
            producer.begin_transaction()
            self.produce(batch, encoded, producer)
            producer.send_offsets_to_transaction(
                batch.offsets, self.consumer.consumer_group_metadata(), 30
            )
            producer.commit_transaction(60)
            return
        self.checkpoint()
        self.produce(batch, encoded, self.producer)
        self.sent.append(batch)

    def drain(self, *_: Any) -> None:
        """Finish every batch consumed so far (before partitions are revoked,
        or the step stops)."""
        while self.pending:
            self.send_next()
        if self.held:  # not shown to be broken: its records are dead letters
            last = self.held.pop()
            batch = merge(self.held, last)
            self.held.clear()
            self.send(batch)
        self.checkpoint()

    def forget(self, *_: Any) -> None:
        """Partitions lost (this member was dropped from the group): their
        offsets can no longer be committed; their new owner replays them."""
        self.clear()
        self.breaker.ok()

    def clear(self) -> None:
        self.pending.clear()
        self.sent.clear()
        self.held.clear()
