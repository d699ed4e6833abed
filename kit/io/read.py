"""``kit.read``: a bounded read of a topic into a Polars DataFrame.

The read is bounded when it starts: each partition's end is measured then
(exactly, even where the broker's high watermark is wrong), so a busy topic
cannot make it run forever. It also ends if no record arrives for ``idle``
seconds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from .. import _session
from .._config import config
from .._errors import ConfigurationError, KitError, KitWarning
from .._time import to_epoch_ms
from .decode import Decoder, frame_from_messages
from .positions import partitions, time_seeker

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection

__all__ = ["KitWarning", "read"]

#: How long the broker may hold a fetch for more data. Lower ends bounded
#: reads sooner (the last fetch of each partition waits this long).
FETCH_WAIT_MS = 50

TimeLike = datetime | date | str | float | int
Errors = Literal["skip", "collect", "raise"]
ERRORS: tuple[Errors, ...] = ("skip", "collect", "raise")


def read(
    topic: str,
    *,
    last: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    limit: int | None = None,
    errors: Errors = "skip",
    format: str = "json",
    idle: float | None = None,
    progress: bool | None = None,
    dedupe: bool = False,
    connection: Connection | None = None,
) -> pl.DataFrame:
    """Read a bounded range of ``topic`` (all partitions) into a DataFrame.

    Columns: ``_key``, ``_timestamp`` (UTC), ``_partition``, ``_offset``,
    then the value's fields (nested objects flattened with dots), sorted by
    timestamp. With no range it reads from the earliest retained record to
    the end as it was when the read started.

    Args:
        last: the newest ``last`` records.
        since, until: timestamps bounding the range (``since`` included,
            ``until`` excluded): datetimes, ISO strings, epoch numbers, or
            relative such as ``"-5m"``.
        limit: at most this many rows, counted from the start of the range.
        errors: bad values (not JSON, wrong types, empty, too large) are
            ``"skip"``-ped with a warning, ``"collect"``-ed in an ``_error``
            column, or ``"raise"`` a ``KitError``.
        format: ``json`` (default), ``str``, ``bytes`` or a quixstreams
            deserializer name.
        idle: stop after this many seconds without a record (default: the
            kit's ``idle`` setting, 5 s; see ``kit.config()``). Values over
            its ``max_bytes`` setting (1,000,000) are bad records.
        progress: show a progress bar (default: for reads over a second).
        dedupe: drop records whose ``kit-id`` identity was already read: the
            duplicates an at-least-once service may write after a crash.
        connection: defaults to the current connection.

    >>> import kit
    >>> df = kit.read("telemetry", last=1000)                # doctest: +SKIP
    >>> df = kit.read("telemetry", since="-5m", limit=10)    # doctest: +SKIP
    """
    frame, _decoder = read_decoded(
        topic, last=last, since=since, until=until, limit=limit, errors=errors,
        format=format, idle=idle, progress=progress, dedupe=dedupe,
        connection=connection,
    )  # fmt: skip
    return frame


def read_decoded(
    topic: str,
    *,
    last: int | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    limit: int | None = None,
    errors: Errors = "skip",
    format: str = "json",
    idle: float | None = None,
    progress: bool | None = None,
    dedupe: bool = False,
    connection: Connection | None = None,
) -> tuple[pl.DataFrame, Decoder]:
    """:func:`read`, and the decoder that read it (its schema: the values'
    nested schema, for the step that reads this topic live)."""
    import polars as pl

    if errors not in ERRORS:
        raise ConfigurationError(
            f"errors={errors!r}: choose one of {', '.join(ERRORS)}."
        )
    for name, value in (("last", last), ("limit", limit)):
        if value is not None and value < 0:
            raise ConfigurationError(f"{name}={value} must be 0 or more.")
    if last is not None and (since is not None or limit is not None):
        raise ConfigurationError(
            "last= reads the newest records; combine it with until= only."
        )
    conn = _session.current(connection)
    since_ms = None if since is None else to_epoch_ms(since)
    until_ms = None if until is None else to_epoch_ms(until)
    ranges = _ranges(
        conn, topic, last=last, limit=limit, since_ms=since_ms, until_ms=until_ms
    )
    settings = config()
    idle = settings.idle if idle is None else idle
    decoder = Decoder(format=format, max_bytes=settings.max_bytes)
    frames = _consume(
        conn, topic, ranges, decoder, idle=idle, progress=progress, ids=dedupe
    )
    frame = pl.concat(frames, how="diagonal_relaxed") if frames else _empty()
    if since_ms is not None:
        frame = frame.filter(pl.col("_timestamp").dt.epoch("ms") >= since_ms)
    if until_ms is not None:
        frame = frame.filter(pl.col("_timestamp").dt.epoch("ms") < until_ms)
    frame = frame.sort("_timestamp", "_partition", "_offset")
    if dedupe and "_id" in frame.columns:
        seen = pl.col("_id").is_null() | pl.col("_id").is_first_distinct()
        frame = frame.filter(seen).drop("_id")
    if last is not None:
        frame = frame.tail(last)
    if limit is not None:
        frame = frame.head(limit)
    bad = frame.filter(pl.col("_error").is_not_null())
    if bad.height:
        if errors == "raise":
            row = bad.row(0, named=True)
            raise KitError(
                f"Record at partition {row['_partition']} offset {row['_offset']} of "
                f"{topic!r} could not be decoded: {row['_error']}. Use errors='skip' "
                "or errors='collect' to read past bad records."
            )
        if errors == "skip":
            warnings.warn(
                f"Skipped {bad.height} bad record(s) of {topic!r}; the last: "
                f"{bad['_error'][-1]}. Use errors='collect' to see them.",
                KitWarning,
                stacklevel=3,
            )
            frame = frame.filter(pl.col("_error").is_null())
    if errors != "collect":
        frame = frame.drop("_error")
    return frame, decoder


def _ranges(
    conn: Connection,
    topic: str,
    *,
    last: int | None,
    limit: int | None,
    since_ms: int | None,
    until_ms: int | None,
) -> dict[int, tuple[int, int]]:
    """Partition -> (first offset, end offset) of the records to read."""
    parts = partitions(conn, topic)
    bounds = conn.offsets({topic: parts})
    # A short fetch wait for the time search: each step reads one record, and
    # Tansu holds every fetch for fetch.wait.max.ms (0.4 s a step measured).
    seeker = conn.consumer(enable_auto_commit=False, fetch_wait_max_ms=5)
    seek = time_seeker(conn, topic, seeker)
    ranges: dict[int, tuple[int, int]] = {}
    try:
        for p in parts:
            low, end = bounds[(topic, p)]
            start = low
            if since_ms is not None and end > low:
                start = seek(p, low, end, since_ms)
            if until_ms is not None and end > start:
                end = seek(p, start, end, until_ms)
            if last is not None:
                start = max(start, end - last)
            if limit is not None:
                end = min(end, start + limit)
            if end > start:
                ranges[p] = (start, end)
    finally:
        seeker.close()
    return ranges


def read_messages(
    topic: str,
    *,
    last: int,
    idle: float = 2.0,
    connection: Connection | None = None,
) -> list[Any]:
    """The newest ``last`` records of ``topic`` as confluent-kafka messages
    (raw: keys, values, timestamps, headers), in arrival order: by partition,
    then offset (``last`` in all: the newest by time)."""
    conn = _session.current(connection)
    ranges = _ranges(conn, topic, last=last, limit=None, since_ms=None, until_ms=None)
    messages = [
        m
        for batch in _batches(conn, topic, ranges, idle=idle, progress=False)
        for m in batch
    ]
    messages.sort(key=lambda m: (m.timestamp()[1], m.partition(), m.offset()))
    newest = messages[-last:] if last else []
    return sorted(newest, key=lambda m: (m.partition(), m.offset()))


def _empty() -> pl.DataFrame:
    import polars as pl

    return pl.DataFrame(
        schema={
            "_key": pl.String,
            "_timestamp": pl.Datetime("ms", "UTC"),
            "_partition": pl.Int32,
            "_offset": pl.Int64,
            "_error": pl.String,
        }
    )


def _consume(
    conn: Connection,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    decoder: Decoder,
    *,
    idle: float,
    progress: bool | None,
    ids: bool = False,
) -> list[pl.DataFrame]:
    return [
        frame_from_messages(batch, decoder, ids=ids)
        for batch in _batches(conn, topic, ranges, idle=idle, progress=progress)
    ]


def _batches(
    conn: Connection,
    topic: str,
    ranges: dict[int, tuple[int, int]],
    *,
    idle: float,
    progress: bool | None,
) -> Iterator[list[Any]]:
    """The records of ``ranges``, a batch of messages at a time."""
    from confluent_kafka import TopicPartition
    from tqdm.auto import tqdm

    if not ranges:
        return
    total = sum(end - start for start, end in ranges.values())
    consumer = conn.consumer(
        enable_auto_commit=False,
        enable_partition_eof=True,
        fetch_wait_max_ms=FETCH_WAIT_MS,
    )
    consumer.assign(
        [TopicPartition(topic, p, start) for p, (start, _) in ranges.items()]
    )
    pending = {p: end for p, (_, end) in ranges.items()}
    bar = tqdm(
        total=total,
        unit="rec",
        desc=f"read {topic}",
        delay=0 if progress else 1.0,
        disable=progress is False,
        leave=False,
    )
    last_record = time.monotonic()
    try:
        while pending:
            messages = consumer.consume(num_messages=10_000, timeout=0.2)
            batch = []
            for message in messages:
                p = message.partition()
                error = message.error()
                if error is not None:
                    # A partition may end before the offset we measured (e.g.
                    # transaction markers take offsets): then it is done.
                    eof = error.code() == error._PARTITION_EOF
                    if eof and p in pending and message.offset() >= pending[p] - 1:
                        pending.pop(p)
                    continue
                end = pending.get(p)
                if end is None or message.offset() >= end:
                    continue
                batch.append(message)
                if message.offset() >= end - 1:
                    pending.pop(p)
                    consumer.incremental_unassign([TopicPartition(topic, p)])
            if batch:
                yield batch
                bar.update(len(batch))
                last_record = time.monotonic()
            elif time.monotonic() - last_record > idle:
                missing = sum(1 for _ in pending)
                warnings.warn(
                    f"Stopped reading {topic!r} after {idle:g} s without records; "
                    f"{missing} partition(s) ended before their measured end.",
                    KitWarning,
                    stacklevel=4,
                )
                break
    finally:
        bar.close()
        consumer.close()
