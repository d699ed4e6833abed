"""Where to start or stop reading a topic: partitions, offsets, times.

A start position is ``latest``, ``earliest``, an offset (the same in every
partition; negative counts back from the end), a time (datetime, ISO string,
epoch number) or a relative time such as ``-5m``.

>>> parse_start("latest"), parse_start("-5m"), parse_start("120"), parse_start("-20")
('latest', ('time', '-5m'), ('offset', 120), ('offset', -20))
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import KitError
from .._time import to_epoch_ms

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["parse_start", "partitions", "start_offsets", "time_seeker"]

_RELATIVE = re.compile(r"^-\d+(\.\d+)?(ms|s|m|h|d)")


def parse_start(spec: Any) -> Any:
    """Normalise a start position (see the module docstring)."""
    if spec in ("latest", "earliest"):
        return spec
    if isinstance(spec, int):
        return ("offset", spec)
    if isinstance(spec, str):
        text = spec.strip()
        if re.fullmatch(r"-?\d+", text):
            return ("offset", int(text))
        if _RELATIVE.match(text):
            return ("time", text)
    to_epoch_ms(spec)  # raises a clear ValueError for nonsense
    return ("time", spec)


def partitions(conn: Connection, topic: str) -> list[int]:
    """The partitions of ``topic``, or a KitError that lists the topics."""
    from .._kafka import fetch_metadata

    metadata = fetch_metadata(conn.settings.client_config())
    if topic not in metadata.topics:
        import difflib

        internal = ("__", "changelog__", "repartition__")  # quixstreams' and Kafka's
        names = sorted(t for t in metadata.topics if not t.startswith(internal))
        close = difflib.get_close_matches(topic, names, n=3)
        names = close + [n for n in names if n not in close]
        listed = ", ".join(names[:20]) + (
            f" ... ({len(names) - 20} more)" if len(names) > 20 else ""
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KitError(
            f"Topic {topic!r} does not exist on {conn.address}; "
            f"topics: {listed or '(none)'}.{hint}"
        )
    return sorted(metadata.topics[topic].partitions)


def start_offsets(conn: Connection, topic: str, spec: Any) -> dict[int, int]:
    """Offset to start each partition of ``topic`` at, for position ``spec``."""
    position = parse_start(spec)
    parts = partitions(conn, topic)
    bounds = conn.offsets({topic: parts})
    if position == "earliest":
        return {p: bounds[(topic, p)][0] for p in parts}
    if position == "latest":
        return {p: bounds[(topic, p)][1] for p in parts}
    kind, value = position
    if kind == "offset":
        out = {}
        for p in parts:
            low, end = bounds[(topic, p)]
            wanted = end + value if value < 0 else value
            out[p] = min(max(wanted, low), end)
        return out
    ms = to_epoch_ms(value)
    seeker = conn.consumer(enable_auto_commit=False, fetch_wait_max_ms=5)
    try:
        seek = time_seeker(conn, topic, seeker)
        return {p: seek(p, *bounds[(topic, p)], ms) for p in parts}
    finally:
        seeker.close()


def time_seeker(
    conn: Connection, topic: str, consumer: Any
) -> Callable[[int, int, int, int], int]:
    """A function (partition, low, end, ms) -> first offset with timestamp >= ms.

    Uses the broker's time index where it works; elsewhere (Tansu) it searches
    the partition, reading one record per step: interpolation on timestamps,
    bisecting every other step. Like Kafka's own index, it assumes timestamps
    grow along a partition. ``consumer`` should have a short
    ``fetch.wait.max.ms`` (Tansu holds each fetch that long: 0.4 s a step).
    """
    from confluent_kafka import TopicPartition

    def seek(partition: int, low: int, end: int, ms: int) -> int:
        if end <= low:
            return end
        if conn.capabilities.time_index:
            found = consumer.offsets_for_times(
                [TopicPartition(topic, partition, ms)], timeout=10
            )[0].offset
            return end if found < 0 else max(low, min(found, end))

        def stamp(offset: int) -> int:
            found = _timestamp_at(consumer, topic, partition, offset)
            return ms if found is None else found

        lo, hi = low, end - 1
        t_lo, t_hi = stamp(lo), stamp(hi)
        if t_lo >= ms:
            return lo
        if t_hi < ms:
            return end
        # stamp(lo) < ms <= stamp(hi)
        step = 0
        while hi - lo > 1:
            if step % 2 == 0 and t_hi > t_lo:
                guess = lo + (ms - t_lo) * (hi - lo) // (t_hi - t_lo)
            else:
                guess = (lo + hi) // 2
            guess = min(max(guess, lo + 1), hi - 1)
            found = stamp(guess)
            if found >= ms:
                hi, t_hi = guess, found
            else:
                lo, t_lo = guess, found
            step += 1
        return hi

    return seek


def _timestamp_at(consumer: Any, topic: str, partition: int, offset: int) -> int | None:
    """The timestamp of the first record at or after ``offset``."""
    from confluent_kafka import TopicPartition

    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            return int(message.timestamp()[1])
    return None
