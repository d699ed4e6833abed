"""Running a Polars step on a stream: decode a micro-batch, transform, encode,
produce, then commit.

Checkpoint order (at-least-once, measured to lose nothing under SIGKILL):
flush the producer until no record is left in it (however long the broker is
away), check every delivery report, and only then commit the
input offsets (last + 1 per partition). A crash replays the batches in flight
(at most three, see :class:`PolarsStepRunner`); their outputs carry the same
record identity (``kit-id`` header), so readers can drop the duplicates.

Bad input never stops the step: undecodable records (type conflicts
included, see :class:`~.decode.Decoder`), and records the step fails on, go
to ``<input>.dlq`` with the reason, the step name and the source coordinates
in headers. A step that fails on every record of several batches in a row is
broken (:mod:`.broken`): those batches are held back, neither dead-lettered
nor committed, and the step stops with ``StepBroken``. Outputs are written in
the input's shape (:mod:`.encode`).

Where the time goes, per record (~150-byte JSON telemetry, 2-core machine,
see ``bench/bench_chain.py``): taking the messages from the consumer ~0.4 µs
(as for any confluent-kafka client), reading their fields ~0.15 µs, decoding
with Polars ~0.7 µs, encoding ~0.45 µs, ``Producer.produce`` with the
identity header and timestamp ~0.7 µs (~0.35 µs without either), and the
client library's own threads. Decoding and running the step overlap with
producing (see :class:`PolarsStepRunner`). Measured remedies kept here:

* ``produce`` gets positional arguments only: any keyword argument makes the
  C extension look every keyword up by name, ~0.4 µs more a record;
* fields are read off messages by mapping the accessors over the batch
  (~0.15 µs a record; a Python loop building tuples cost ~1 µs);
* the garbage collector's young generation is collected every 50,000
  allocations instead of 700 while steps run (it took ~15% of the time).
"""

from __future__ import annotations

import contextlib
import gc
import operator
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .batch import run_batch, source_name, where_it_fails
from .broken import Breaker
from .chain import ID_HEADER, Step
from .decode import ERROR, Decoder
from .delivery import await_delivery, produce_retrying
from .encode import encode_rows
from .messages import frame_from_messages
from .status import StepStatus

if TYPE_CHECKING:
    import polars as pl

    from .profile import BrokerSettings

__all__ = ["PolarsStepRunner"]

#: A transaction of a service killed mid-way is aborted by the broker after
#: this long, so read_committed readers wait at most that long.
TRANSACTION_TIMEOUT_MS = 10_000

#: ``partition`` argument of ``Producer.produce`` meaning "use the partitioner".
_ANY_PARTITION = -1

_error = operator.methodcaller("error")

_GC_LOCK = threading.Lock()
_GC_RUNNERS = 0
_GC_SAVED = (700, 10, 10)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector's young collections less often.

    A batch allocates tens of thousands of tracked containers (a message
    object per record, a header list per output); with the default threshold
    (700) the collector ran ~30 times a batch and took ~15% of a step's time
    (py-spy). While any step runs, the threshold is 50,000; reference
    counting still frees everything that is not a cycle at once. The setting
    is process-wide, so it is restored when the last step stops.
    """
    global _GC_RUNNERS, _GC_SAVED
    with _GC_LOCK:
        if _GC_RUNNERS == 0:
            _GC_SAVED = gc.get_threshold()
            gc.set_threshold(max(_GC_SAVED[0], 50_000), *_GC_SAVED[1:])
        _GC_RUNNERS += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_RUNNERS -= 1
            if _GC_RUNNERS == 0:
                gc.set_threshold(*_GC_SAVED)


@dataclass
class _Batch:
    """One micro-batch: its step output, what to commit once it is delivered,
    and its dead letters."""

    output: pl.DataFrame
    offsets: list[Any]  # TopicPartitions: last offset + 1 per input partition
    tag: str  # identifies the batch (aggregating steps' record identities)
    latest: int  # the batch's latest input time (for outputs without one)
    dead: list[tuple[Any, str]] = field(default_factory=list)
    #: the step failed on every record: (records, its error, where it failed)
    broken: tuple[int, str, str] | None = None


def _merge(held: list[_Batch], batch: _Batch) -> _Batch:
    """``batch`` with the dead letters and offsets of the batches held before it."""
    offsets = {(tp.topic, tp.partition): tp for b in [*held, batch] for tp in b.offsets}
    return _Batch(
        batch.output,
        list(offsets.values()),  # later batches' offsets win: they are higher
        batch.tag,
        max(b.latest for b in [*held, batch]),
        [d for b in [*held, batch] for d in b.dead],
    )


class PolarsStepRunner:
    """Runs one Polars step until ``stop`` is set (finishing its batches).

    Three batches are in flight, in three stages that overlap:

    1. a helper thread decodes batch N+2 and runs the step on it (Polars
       releases the GIL while it works);
    2. this thread encodes batch N+1 while the producer still delivers N;
    3. this thread waits for N's delivery, commits N, and produces N+1.

    Only this thread talks to the broker, and batches are produced and
    committed in the order they were consumed, each commit after every output
    of its batch is delivered. Before partitions are revoked (a rebalance, or
    closing), every batch consumed so far is finished and committed.
    """

    def __init__(
        self,
        step: Step,
        settings: BrokerSettings,
        *,
        group: str,
        stop: threading.Event,
        status: StepStatus,
        batch_timeout: float = 0.5,
    ) -> None:
        self.step = step
        self.settings = settings
        self.group = group
        self.stop = stop
        self.status = status
        self.batch_timeout = batch_timeout
        # The input's schema contract: the one exported with the service, grown
        # by new fields (see Decoder).
        self.decoder = Decoder(schema=step.schema)
        self.source = ""  # what identities start with (see source_name)

    def run(self) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        from confluent_kafka import Consumer, Producer

        step = self.step
        consumer = Consumer(
            self.settings.consumer_config(
                **{
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                }
            )
        )
        failures: list[str] = []

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        config: dict[str, Any] = {
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True,
            "on_delivery": on_delivery,
        }
        transactional = self.settings.transactions
        if transactional:
            # Exactly-once (KIP-447): outputs and input offsets commit in one
            # transaction; read_committed readers never see a replay.
            config["transactional.id"] = f"{self.group}-{uuid.uuid4().hex[:12]}"
            config["enable.idempotence"] = True
            config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        producer = Producer(self.settings.producer_config(**config))
        if transactional:
            producer.init_transactions(30)
        helper = ThreadPoolExecutor(1, thread_name_prefix=f"kit-{step.name}")
        pending: list[Future[_Batch]] = []  # consumed, being prepared
        sent: list[_Batch] = []  # produced, not yet committed (at most one)
        held: list[_Batch] = []  # every record failed in the step: broken?
        breaker = Breaker(step.name)

        def checkpoint() -> None:
            """Every output produced delivered, then commit the inputs."""
            if not sent:
                return
            await_delivery(producer, failures, step.name)
            consumer.commit(offsets=sent.pop().offsets, asynchronous=False)

        def send_next() -> None:
            send(pending.pop(0).result())

        def send(batch: _Batch) -> None:
            """Encode a prepared batch, checkpoint the one before it
            (delivered meanwhile), then produce it."""
            if batch.broken is not None:  # hold it back until it is clear why
                held.append(batch)
                if breaker.failed(*batch.broken):
                    raise breaker.error()
                return
            breaker.ok()
            if held:  # bad records after all: dead letters with this batch
                batch = _merge(held, batch)
                held.clear()
            encoded = self._encode(batch)
            if transactional:
                producer.begin_transaction()
                self._produce(batch, encoded, producer)
                producer.send_offsets_to_transaction(
                    batch.offsets, consumer.consumer_group_metadata(), 30
                )
                producer.commit_transaction(60)
                return
            checkpoint()
            self._produce(batch, encoded, producer)
            sent.append(batch)

        def drain(*_: Any) -> None:
            while pending:
                send_next()
            if held:  # not shown to be broken: its records are dead letters
                last = held.pop()
                batch = _merge(held, last)
                held.clear()
                send(batch)
            checkpoint()

        def forget(*_: Any) -> None:
            # Partitions lost (this member was dropped from the group): their
            # offsets can no longer be committed; their new owner replays them.
            pending.clear()
            sent.clear()
            held.clear()
            breaker.ok()

        # Partitions are about to go to another member (or the consumer is
        # closing): finish what was consumed from them first.
        consumer.subscribe([step.input], on_revoke=drain, on_lost=forget)
        self.status.state = "running"
        lag_at = 0.0
        try:
            with _fewer_collections():
                while not self.stop.is_set():
                    # With batches in flight, take only what has arrived, so
                    # that they are not held back waiting for more.
                    busy = pending or sent
                    wait = 0.0 if busy else self.batch_timeout
                    messages = consumer.consume(step.batch_size, wait)
                    if messages and any(map(_error, messages)):
                        messages = [m for m in messages if m.error() is None]
                    if messages and not self.source:
                        # Asked once its first records are in: the topic exists.
                        self.source = source_name(self.settings, step.input)
                    if messages:
                        pending.append(helper.submit(self._prepare, messages))
                    if len(pending) > 1 or (pending and not messages):
                        send_next()
                    elif not messages:
                        checkpoint()
                    if time.monotonic() - lag_at > 0.5 or not messages:
                        self._update_lag(consumer)
                        lag_at = time.monotonic()
                drain()
            self.status.state = "stopped"
        except BaseException as exc:
            self.status.state = "failed"
            self.status.errors += 1
            self.status.last_error = "".join(
                traceback.format_exception_only(exc)
            ).strip()
            raise
        finally:
            # What was not committed is replayed on restart.
            pending.clear()
            sent.clear()
            held.clear()
            helper.shutdown(wait=True, cancel_futures=True)
            producer.flush(10)
            consumer.close()

    def _prepare(self, messages: list[Any]) -> _Batch:
        """Decode a batch and run the step; bad records become dead letters."""
        step = self.step
        self.status.count_in(len(messages))
        frame = frame_from_messages(messages, self.decoder)
        offsets = _next_offsets(step.input, frame)
        latest: int = frame["_timestamp"].dt.epoch("ms").max() or 0  # type: ignore[assignment]
        first = messages[0]
        tag = f"b{first.partition()}.{first.offset()}"
        dead: list[tuple[Any, str]] = []
        if frame[ERROR].null_count() < frame.height:  # some records are bad
            bad = frame[ERROR].is_not_null()
            bad_rows = bad.arg_true().to_list()
            reasons = frame[ERROR].gather(bad_rows).to_list()
            dead = [(messages[i], r) for i, r in zip(bad_rows, reasons, strict=True)]
            skip = set(bad_rows)
            messages = [m for i, m in enumerate(messages) if i not in skip]
            frame = frame.filter(~bad)
        frame = frame.drop(ERROR)
        output, failed = run_batch(step.func, frame)
        dead.extend((messages[i], f"step {step.name!r} failed: {e}") for i, e in failed)
        broken = None
        if failed and len(failed) == frame.height:  # every record: the step?
            broken = (frame.height, failed[0][1], where_it_fails(step.func, frame))
        self.status.new_fields = self.decoder.added
        self.status.conflicts = self.decoder.conflicts
        return _Batch(output, offsets, tag, latest, dead, broken)

    def _encode(
        self, batch: _Batch
    ) -> tuple[list[str], list[str | None], list[int], list[bytes]]:
        return encode_rows(
            batch.output,
            source=self.source,
            batch_tag=batch.tag,
            fallback_ms=batch.latest,
            shape=self.decoder.raw,
        )

    def _produce(
        self,
        batch: _Batch,
        encoded: tuple[list[str], list[str | None], list[int], list[bytes]],
        producer: Any,
    ) -> None:
        """Hand every output and dead letter of ``batch`` to the producer."""
        step = self.step
        topic, produce, header = step.output, producer.produce, ID_HEADER
        for value, key, stamp, identity in zip(*encoded, strict=True):
            # Positional arguments only (see the module docstring).
            try:
                produce(
                    topic, value, key, _ANY_PARTITION, None, None, stamp,
                    [(header, identity)],
                )  # fmt: skip
            except BufferError:
                produce_retrying(
                    producer, topic, value, key, stamp, [(header, identity)]
                )
        self.status.records_out += batch.output.height
        for message, reason in batch.dead:
            dead_headers = [
                ("kit-error", reason[:2000]),
                ("kit-step", step.name),
                ("kit-source-topic", message.topic()),
                ("kit-source-partition", str(message.partition())),
                ("kit-source-offset", str(message.offset())),
                (
                    ID_HEADER,
                    f"{message.topic()}/{message.partition()}/{message.offset()}",
                ),
            ]
            produce_retrying(
                producer, step.dlq, message.value() or b"", message.key(),
                message.timestamp()[1], dead_headers,
            )  # fmt: skip
        if batch.dead:
            self.status.dlq += len(batch.dead)
            self.status.last_error = batch.dead[-1][1]

    def _update_lag(self, consumer: Any) -> None:
        """Records behind, from the high watermarks of the fetches so far."""
        try:
            positions = consumer.position(consumer.assignment())
            lag = 0
            for tp in positions:
                _low, high = consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    lag += max(0, high - tp.offset)
            self.status.lag = lag
        except Exception:
            self.status.lag = None


def _next_offsets(topic: str, frame: pl.DataFrame) -> list[Any]:
    """Offsets to commit after ``frame``: last offset + 1 per partition."""
    import polars as pl
    from confluent_kafka import TopicPartition

    last = frame.group_by("_partition").agg(pl.col("_offset").max())
    return [TopicPartition(topic, p, o + 1) for p, o in last.iter_rows()]
