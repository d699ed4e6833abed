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
from typing import TYPE_CHECKING, Any

from .batch import run_batch, source_name, where_it_fails
from .chain import ID_HEADER, Step
from .decode import ERROR, Decoder
from .delivery import produce_retrying
from .encode import encode_rows
from .inflight import Batch, Encoded, InFlight
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
        from concurrent.futures import ThreadPoolExecutor

        consumer = self._consumer()
        failures: list[str] = []
        producer = self._producer(failures)
        flight = InFlight(
            self.step.name, consumer, producer, failures, self._encode, self._produce,
            transactional=self.settings.transactions,
        )  # fmt: skip
        helper = ThreadPoolExecutor(1, thread_name_prefix=f"kit-{self.step.name}")
        # Partitions are about to go to another member (or the consumer is
        # closing): finish what was consumed from them first.
        consumer.subscribe(
            [self.step.input], on_revoke=flight.drain, on_lost=flight.forget
        )
        self.status.state = "running"
        try:
            with _fewer_collections():
                self._loop(consumer, helper, flight)
                flight.drain()
            self.status.state = "stopped"
        except BaseException as exc:
            self.status.state = "failed"
            self.status.errors += 1
            self.status.last_error = "".join(
                traceback.format_exception_only(exc)
            ).strip()
            raise
        finally:
            flight.clear()  # what was not committed is replayed on restart
            helper.shutdown(wait=True, cancel_futures=True)
            producer.flush(10)
            consumer.close()

    def _loop(self, consumer: Any, helper: Any, flight: InFlight) -> None:
        """Consume, prepare and send batches until ``stop`` is set."""
        lag_at = 0.0
        while not self.stop.is_set():
            # With batches in flight, take only what has arrived, so that
            # they are not held back waiting for more.
            wait = 0.0 if flight.busy else self.batch_timeout
            messages = consumer.consume(self.step.batch_size, wait)
            if messages and any(map(_error, messages)):
                messages = [m for m in messages if m.error() is None]
            if messages and not self.source:
                # Asked once its first records are in: the topic exists.
                self.source = source_name(self.settings, self.step.input)
            if messages:
                flight.pending.append(helper.submit(self._prepare, messages))
            if len(flight.pending) > 1 or (flight.pending and not messages):
                flight.send_next()
            elif not messages:
                flight.checkpoint()
            if time.monotonic() - lag_at > 0.5 or not messages:
                self._update_lag(consumer)
                lag_at = time.monotonic()

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        return Consumer(
            self.settings.consumer_config(
                **{
                    "group.id": self.group,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                }
            )
        )

    def _producer(self, failures: list[str]) -> Any:
        """A producer whose delivery errors go to ``failures``; transactional
        where the broker honours transactions."""
        from confluent_kafka import Producer

        def on_delivery(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        config: dict[str, Any] = {
            "linger.ms": 5,
            "queue.buffering.max.messages": 1_000_000,
            "delivery.report.only.error": True,
            "on_delivery": on_delivery,
        }
        if self.settings.transactions:
            # Exactly-once (KIP-447): outputs and input offsets commit in one
            # transaction; read_committed readers never see a replay.
            config["transactional.id"] = f"{self.group}-{uuid.uuid4().hex[:12]}"
            config["enable.idempotence"] = True
            config["transaction.timeout.ms"] = TRANSACTION_TIMEOUT_MS
        producer = Producer(self.settings.producer_config(**config))
        if self.settings.transactions:
            producer.init_transactions(30)
        return producer

    def _prepare(self, messages: list[Any]) -> Batch:
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
        return Batch(output, offsets, tag, latest, dead, broken)

    def _encode(self, batch: Batch) -> Encoded:
        return encode_rows(
            batch.output,
            source=self.source,
            batch_tag=batch.tag,
            fallback_ms=batch.latest,
            shape=self.decoder.raw,
        )

    def _produce(self, batch: Batch, encoded: Encoded, producer: Any) -> None:
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
