"""``kit demo``'s producer of race telemetry, and how notebooks share it.

The quickstart starts its own ``%stream demo telemetry``. Two producers
writing the same cars into one topic would draw two interleaved traces per
car, and a hand-over from one to the other a cliff in every trace. What gives
the user live data fastest is a producer that runs before the notebook is
even open (a peek has rows at once, the plot's ``--from -30s`` has 30 s of
history at once) and that the notebook then *uses*:

* :class:`Feed` records itself in the state directory (``demo-feed.json``:
  pid, broker address, topic, rate) while it runs;
* ``kit.demo(topic)`` without ``duration``/``count`` (``%stream demo
  telemetry`` in the quickstart) asks :func:`attached_feed` first; when a
  live Feed writes that topic on that broker it returns an
  :class:`AttachedFeed` instead of starting a second producer. ``%stream
  stop`` detaches from it; the topic stays live until ``kit demo`` ends.
  Bounded demos (``--for``, ``--count``; every headless run) always produce
  their own records;
* should another producer write the topic anyway (a bounded demo, a replay,
  another tool), the Feed sees records without its ``kit-demo`` header and
  pauses, and resumes when the topic has had no other producer for
  :data:`QUIET` seconds.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from .. import _state
from .._errors import KitError
from .._jobs import Job
from ..io.demo import TelemetryGenerator, produce_telemetry

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..connection import Connection

__all__ = ["HEADER", "QUIET", "RECORD", "AttachedFeed", "Feed", "attached_feed"]

HEADER = "kit-demo"
RECORD = "demo-feed.json"
#: Seconds without another producer's records before the Feed resumes.
QUIET = 3.0


class Feed(Job):
    """Demo race telemetry into ``topic`` that yields to any other producer.

    Writes one record per car every ``cars / rate`` seconds, each with a
    ``kit-demo`` header. A consumer assigned to the topic's end (no group, so
    no join delay) looks for records without that header: while they keep
    coming, the Feed pauses (see the module docstring).
    """

    kind = "demo"

    def __init__(
        self,
        connection: Connection,
        topic: str = "telemetry",
        *,
        rate: float = 100.0,
        cars: int = 5,
        venue: str = "baku",
        quiet: float = QUIET,
        echo: Callable[[str], None] = print,
    ) -> None:
        if rate <= 0:
            raise KitError(f"rate={rate:g} must be above 0 records per second.")
        super().__init__(f"kit-demo:{topic}")
        self.connection = connection
        self.topic = topic
        self.rate = rate
        self.cars = cars
        self.venue = venue
        self.quiet = quiet
        self.sent = 0
        self.paused = False
        self.generator = TelemetryGenerator(cars=cars, venue=venue)
        self._echo = echo
        self._tag = str(os.getpid()).encode()
        connection.create_topic(topic, partitions=4)

    def start(self) -> Feed:
        super().start()
        _state.write_json(
            RECORD,
            {
                "pid": os.getpid(),
                "created": _created(os.getpid()),
                "address": self.connection.address,
                "topic": self.topic,
                "rate": self.rate,
                "cars": self.cars,
                "venue": self.venue,
            },
        )
        return self

    def stop(self, timeout: float = 10.0) -> None:
        record = _state.read_json(RECORD)
        if record and record.get("pid") == os.getpid():
            _state.write_json(RECORD, None)
        super().stop(timeout)

    def _run(self) -> None:
        from confluent_kafka import OFFSET_END, TopicPartition

        producer = self.connection.producer()
        watcher = self.connection.consumer(
            enable_auto_commit=False, fetch_wait_max_ms=100
        )
        partitions: list[int] = []
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:  # a new topic's
            meta = watcher.list_topics(self.topic, timeout=10).topics.get(self.topic)
            partitions = sorted(meta.partitions) if meta is not None else []
            if not partitions:
                time.sleep(0.1)  # metadata may lag its creation a moment
        watcher.assign([TopicPartition(self.topic, p, OFFSET_END) for p in partitions])
        dt = self.cars / self.rate
        due = time.monotonic()
        other = float("-inf")  # when a record from another producer was last seen
        try:
            while not self._stop.is_set():
                if self._other_producer(watcher):
                    other = time.monotonic()
                quiet = time.monotonic() - other >= self.quiet
                if self.paused == quiet:
                    self.paused = not quiet
                    self._echo(
                        f"producer    paused: another producer writes to {self.topic!r}"
                        if self.paused
                        else f"producer    resumed: no other producer for {self.quiet:g} s"
                    )
                if not self.paused:
                    self._produce(producer, dt)
                due += dt
                delay = due - time.monotonic()
                if delay < 0:  # behind (a busy machine): no burst to catch up
                    due = time.monotonic()
                elif self._stop.wait(delay):
                    break
        finally:
            producer.flush(10)
            watcher.close()

    def _produce(self, producer: Any, dt: float) -> None:
        records = self.generator.step(dt, now=time.time())
        self.sent += produce_telemetry(
            producer, self.topic, records, headers=[(HEADER, self._tag)]
        )

    def _other_producer(self, watcher: Any) -> bool:
        """Whether records without our header arrived since the last call."""
        found = False
        for message in watcher.consume(num_messages=1000, timeout=0):
            if message.error() is None and not any(
                key == HEADER for key, _ in message.headers() or ()
            ):
                found = True
        return found


class AttachedFeed(Job):
    """What ``kit.demo()`` returns when ``kit demo``'s Feed already writes the
    topic: it produces nothing, runs while that Feed runs, and stopping it
    (``%stream stop``) only detaches."""

    kind = "demo"

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(f"demo:{record['topic']} (kit demo's)")
        self.topic: str = record["topic"]
        self.rate: float = float(record["rate"])
        self.pid: int = int(record["pid"])
        self.sent = 0  # records this object produced: none, by design
        self._record = record

    def _run(self) -> None:
        while not self._stop.wait(0.5) and _feeding(self._record):
            pass

    def message(self) -> str:
        """One line for the notebook."""
        return (
            f"kit demo (pid {self.pid}) already produces demo telemetry into "
            f"{self.topic!r} at {self.rate:g} msg/s: using it rather than starting "
            "a second producer (it stops with kit demo)."
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "topic": self.topic, "rate": self.rate}


def attached_feed(topic: str, connection: Connection) -> AttachedFeed | None:
    """kit demo's Feed writing ``topic`` on ``connection``'s broker, if one
    runs (attached to: a started :class:`AttachedFeed`); else None."""
    record = _state.read_json(RECORD)
    if (
        not record
        or record.get("topic") != topic
        or record.get("address") != connection.address
        or not _feeding(record)
    ):
        return None
    return AttachedFeed(record).start()


def _feeding(record: dict[str, Any]) -> bool:
    """Whether the process that wrote ``record`` still runs (same pid, same
    start time: not a recycled pid)."""
    created = _created(int(record.get("pid", -1)))
    return created is not None and abs(created - float(record["created"])) < 1.0


def _created(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, ValueError):
        return None
