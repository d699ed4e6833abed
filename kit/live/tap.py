"""A tap: one background consumer of a topic, decoding batches into a ring buffer.

Every live view in the kernel (peek tables, plots, status) reads a tap's
snapshot instead of opening its own consumer. A tap consumes without a
consumer group (partitions assigned directly), so it never disturbs groups
and never commits offsets.

>>> tap = Tap("telemetry", start="latest", rows=1000)    # doctest: +SKIP
>>> tap.start(); tap.snapshot().tail(5)                    # doctest: +SKIP
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _session
from .._jobs import Job
from ..io.decode import DEFAULT_MAX_BYTES, Decoder, frame_from_messages
from ..io.positions import start_offsets

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection

__all__ = ["Tap"]

#: Records fetched per consume call; decoding happens a batch at a time.
BATCH = 10_000

#: Seconds a broker connection problem stays shown after its last report.
TROUBLE_SHOWN_FOR = 15.0


class Tap(Job):
    """Consume ``topic`` from ``start`` into a ring buffer of ``rows`` rows.

    Args:
        topic: the topic to follow.
        start: ``latest`` (default), ``earliest``, an offset, a time or a
            relative time such as ``-5m``.
        rows: how many of the newest rows to keep (memory stays flat).
        format: value format, as for :func:`kit.read`.
        max_bytes: larger values are counted as bad.
        count: stop after this many records (``None``: run until stopped).
        duration: stop after this many seconds.
        idle: stop after this many seconds without a record.
        connection: defaults to the current connection.

    Attributes:
        total: records seen; ``bad``/``last_error`` from the decoder.
        rate: records per second over the last second or so.
    """

    kind = "tap"

    def __init__(
        self,
        topic: str,
        *,
        start: Any = "latest",
        rows: int = 1000,
        format: str = "json",
        max_bytes: int = DEFAULT_MAX_BYTES,
        count: int | None = None,
        duration: float | None = None,
        idle: float | None = None,
        connection: Connection | None = None,
    ) -> None:
        super().__init__(f"tap:{topic}")
        self.topic = topic
        self.start_spec = start
        self.rows = rows
        self.count = count
        self.duration = duration
        self.idle = idle
        self.decoder = Decoder(format=format, max_bytes=max_bytes)
        self.connection = _session.current(connection)
        self.offsets = start_offsets(self.connection, topic, start)
        #: records per second over the last full second (None before one passed)
        self.rate: float | None = None
        self._frames: collections.deque[pl.DataFrame] = collections.deque()
        self._buffered = 0
        self._seen = 0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Tap, pl.DataFrame], None]] = []
        self._version = 0
        self._trouble: tuple[float, str] | None = None
        self._suspect = False  # the client reported a broken connection

    # reading -----------------------------------------------------------------
    @property
    def total(self) -> int:
        """Records seen (and buffered, so a snapshot already holds them)."""
        return self._seen

    @property
    def bad(self) -> int:
        return self.decoder.bad

    @property
    def last_error(self) -> str | None:
        return self.decoder.last_error

    @property
    def connection_problem(self) -> str | None:
        """Why the broker cannot be reached, while it cannot (else ``None``).

        librdkafka keeps retrying and reports each failed attempt (at least
        every 10 s); the problem is cleared by the next record, or 15 s after
        the last report.

        >>> tap = Tap.__new__(Tap)
        >>> tap._trouble = None
        >>> tap.connection_problem is None
        True
        """
        trouble = self._trouble
        if trouble is None or time.monotonic() - trouble[0] > TROUBLE_SHOWN_FOR:
            return None
        return trouble[1]

    def _on_client_error(self, error: Any) -> None:
        from confluent_kafka import KafkaError

        if error.code() in (
            KafkaError._ALL_BROKERS_DOWN,
            KafkaError._TRANSPORT,
            KafkaError._RESOLVE,
        ):
            where = self.connection.address or "the broker"
            self._trouble = (time.monotonic(), f"broker unreachable at {where}")
            self._suspect = True

    @property
    def version(self) -> int:
        """Grows with every batch: a cheap "anything new?" check."""
        return self._version

    def snapshot(self, rows: int | None = None) -> pl.DataFrame:
        """The newest ``rows`` (default: all buffered) rows, oldest first
        (by arrival; across several partitions, by record time)."""
        import polars as pl

        with self._lock:
            frames = list(self._frames)
        if not frames:
            return pl.DataFrame()
        frame = (
            frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        )
        rows = rows if rows is not None else self.rows
        if len(self.offsets) > 1 and frame.height > rows:
            frame = frame.sort("_timestamp", "_partition", "_offset")
        return frame.tail(rows)

    def on_batch(self, listener: Callable[[Tap, pl.DataFrame], None]) -> None:
        """Call ``listener(tap, frame)`` from the tap's thread with each new batch."""
        self._listeners.append(listener)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "topic": self.topic,
            "total": self.total,
            "bad": self.bad,
            "rate": None if self.rate is None else round(self.rate, 1),
            "last_error": self.last_error,
            "connection_problem": self.connection_problem,
        }

    # the thread ----------------------------------------------------------------
    def _run(self) -> None:
        positions = dict(self.offsets)  # partition → next offset to read
        consumer = self._open(positions)
        started = time.monotonic()
        last_record = started
        window_start, window_count = started, 0
        try:
            while not self._stop.is_set():
                if (
                    self.duration is not None
                    and time.monotonic() - started >= self.duration
                ):
                    break
                want = BATCH
                if self.count is not None:
                    want = min(want, self.count - self.total)
                    if want <= 0:
                        break
                messages = consumer.consume(num_messages=want, timeout=0.1)
                messages = [m for m in messages if m.error() is None]
                now = time.monotonic()
                if messages:
                    self._trouble = None
                    frame = frame_from_messages(messages, self.decoder)
                    positions.update(_next_positions(frame))
                    self._append(frame)
                    window_count += len(messages)
                    last_record = now
                elif self.idle is not None and now - last_record >= self.idle:
                    break
                if now - window_start >= 1.0:
                    self.rate = window_count / (now - window_start)
                    window_start, window_count = now, 0
                if self._suspect:
                    # Close the consumer while the broker is away: librdkafka
                    # crashes the process if a consumer's topic is missing
                    # when it comes back (an embedded broker restarted
                    # without it). Reopen where we were if the topic is there.
                    consumer.close()
                    consumer = None
                    if not self._wait_for_broker():
                        return
                    consumer = self._open(positions)
        finally:
            if consumer is not None:
                consumer.close()
            self.rate = 0.0

    def _open(self, positions: dict[int, int]) -> Any:
        from confluent_kafka import TopicPartition

        self._suspect = False
        # A bounded prefetch queue keeps memory flat on a fast topic.
        consumer = self.connection.consumer(
            enable_auto_commit=False,
            queued_max_messages_kbytes=16384,
            # Tansu holds a fetch this long even with data waiting: 500 ms by
            # default would cap live views at ~4 updates a second.
            fetch_wait_max_ms=50,
            error_cb=self._on_client_error,
        )
        consumer.assign(
            [TopicPartition(self.topic, p, o) for p, o in positions.items()]
        )
        return consumer

    def _wait_for_broker(self) -> bool:
        """Wait (until stopped) for the broker; False if stopped meanwhile.

        Raises:
            KitError: the broker is back without the topic.
        """
        from .._errors import BrokerUnreachable, KitError
        from .._kafka import fetch_metadata

        config = self.connection.settings.client_config()
        while not self._stop.is_set():
            try:
                metadata = fetch_metadata(config, timeout=2.0)
            except BrokerUnreachable:
                self._stop.wait(0.5)
                continue
            if self.topic not in metadata.topics:
                self._trouble = None
                raise KitError(
                    f"Topic {self.topic!r} no longer exists on "
                    f"{self.connection.address} (deleted, or the broker restarted "
                    "without it); start a new view once it is back."
                )
            self._trouble = None
            return True
        return False

    def _append(self, frame: pl.DataFrame) -> None:
        with self._lock:
            self._frames.append(frame)
            self._buffered += frame.height
            self._seen += frame.height
            if self._buffered - self._frames[0].height >= self.rows:  # full
                if len(self.offsets) > 1:
                    self._keep_newest()
                else:  # drop whole old batches while the rest fills the buffer
                    while self._buffered - self._frames[0].height >= self.rows:
                        self._buffered -= self._frames.popleft().height
            if len(self._frames) > 64:  # many small batches: compact them
                self._keep_newest()
            self._version += 1
        for listener in list(self._listeners):
            listener(self, frame)

    def _keep_newest(self) -> None:
        """Keep the newest ``rows`` by record time (call with the lock held).

        Partitions arrive in batches of their own: a batch of one partition
        must not push the newest records of the others out of the buffer.
        """
        import polars as pl

        merged = pl.concat(list(self._frames), how="diagonal_relaxed")
        if merged.height > self.rows:
            merged = merged.sort("_timestamp", "_partition", "_offset").tail(self.rows)
        self._frames = collections.deque([merged])
        self._buffered = merged.height


def _next_positions(frame: pl.DataFrame) -> dict[int, int]:
    """Partition → the offset after the last one in ``frame``."""
    import polars as pl

    last = frame.group_by("_partition").agg(pl.col("_offset").max())
    return {int(p): int(o) + 1 for p, o in last.iter_rows()}
