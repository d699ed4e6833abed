"""``kit.replay``: recorded data (files or frames) into a topic, in real time.

Records keep their original spacing in time, divided by ``speed``
(``speed=None``: as fast as possible). The replay runs in the background and
returns a handle to watch, stop or wait for.

>>> h = kit.replay("laps.parquet", "telemetry", speed=10, key="car")  # doctest: +SKIP
>>> h.wait()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import _session
from .._errors import ConfigurationError, KitError
from .._jobs import Job
from .recorded import (
    RELATIVE_BEFORE_MS,
    TIME_COLUMNS,
    UNIT_NAMES,
    UNITS,
    load_frame,
    load_records,
    nested_shape,
    times_ms,
)

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection

__all__ = ["Replay", "load_frame", "replay"]


class Replay(Job):
    """A replay in progress: ``sent``/``total``, ``stop()``, ``wait()``."""

    kind = "replay"

    def __init__(
        self,
        frame: pl.DataFrame,
        topic: str,
        *,
        speed: float | None,
        key: str | None,
        timestamp: str | None,
        keep_timestamps: bool,
        progress: bool,
        connection: Connection,
        timestamp_unit: str | None = None,
        values: list[str] | None = None,
    ) -> None:

        super().__init__(f"replay:{topic}")
        self.topic = topic
        self.speed = speed
        self.total = frame.height
        self.sent = 0
        #: monotonic clock times of the first and last record sent
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self.progress = progress
        self.connection = connection
        if key is not None and key not in frame.columns:
            raise KitError(
                f"key={key!r} is not a column; columns: {', '.join(frame.columns)}."
            )
        time_column = timestamp or next(
            (c for c in TIME_COLUMNS if c in frame.columns), None
        )
        if timestamp is not None and timestamp not in frame.columns:
            raise KitError(
                f"timestamp={timestamp!r} is not a column; columns: {', '.join(frame.columns)}."
            )
        if time_column is None and (speed is not None or keep_timestamps):
            raise KitError(
                "No time column to keep the records' timing: pass timestamp=COLUMN "
                f"(columns: {', '.join(frame.columns)}), or speed=None to replay as "
                "fast as possible."
            )
        self.unit: str | None = None
        self.times: list[int] | None = None
        if time_column:
            self.times, self.unit = times_ms(frame, time_column, timestamp_unit)
        self.time_column = time_column
        if keep_timestamps and self.times and max(self.times) < RELATIVE_BEFORE_MS:
            raise KitError(
                f"keep_timestamps=True keeps {time_column!r} as the records' times, "
                f"but its times are relative (the latest is {max(self.times):,} ms "
                "after 1970-01-01): drop keep_timestamps to stamp records with the "
                "replay's clock (the spacing kept), or add an epoch time to the column."
            )
        self.keep_timestamps = keep_timestamps
        self.keys = (
            None if key is None else [None if k is None else str(k) for k in frame[key]]
        )
        from ..runtime.decode import flatten
        from ..runtime.encode import encode_values

        if values is not None:  # a JSON file's records, as the file has them
            self.values: list[str] = values
            return
        # In the records' own shape: dotted columns (as kit.read flattens
        # nested fields) nested again, a field null in a row left out of it.
        flat = flatten(frame)
        self.values = encode_values(flat, nested_shape(flat.schema))

    def plan(self) -> str:
        """One line: what is replayed, the time column and its unit, and how
        long it should take."""
        what = f"Replaying {self.total:,} records into {self.topic!r}"
        if self.time_column is None:
            return what + " as fast as possible."
        unit = f" ({UNIT_NAMES[self.unit]})" if self.unit else ""
        took = self.duration
        pace = (
            "as fast as possible"
            if took is None
            else f"in about {_span(took)} at speed {self.speed:g}"
        )
        return f"{what} by {self.time_column!r}{unit}, {pace}."

    @property
    def duration(self) -> float | None:
        """Seconds the replay should take (``None`` when as fast as possible)."""
        if self.speed is None or not self.times:
            return None
        return (max(self.times) - self.times[0]) / 1000 / self.speed

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "topic": self.topic,
            "sent": self.sent,
            "total": self.total,
        }

    def _run(self) -> None:
        from tqdm.auto import tqdm

        producer = self.connection.producer()
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        bar = tqdm(total=self.total, unit="rec", desc=f"replay → {self.topic}",
                   disable=not self.progress, delay=0.5)  # fmt: skip
        start = time.monotonic()
        now_ms = int(time.time() * 1000)
        times = self.times
        first = times[0] if times else 0
        try:
            for i, value in enumerate(self.values):
                if self._stop.is_set():
                    break
                if self.speed is not None and times is not None:
                    due = start + (times[i] - first) / 1000 / self.speed
                    wait = due - time.monotonic()
                    if wait > 0.001 and self._stop.wait(wait):
                        break
                if times is not None and self.keep_timestamps:
                    stamp = times[i]
                elif times is not None and self.speed is not None:
                    stamp = now_ms + int((times[i] - first) / self.speed)
                else:
                    stamp = int(time.time() * 1000)
                key = None if self.keys is None else self.keys[i]
                while True:
                    try:
                        producer.produce(self.topic, value=value, key=key, timestamp=stamp,
                                         on_delivery=delivered)  # fmt: skip
                        break
                    except BufferError:
                        producer.poll(0.05)
                self.last_sent = time.monotonic()
                if self.first_sent is None:
                    self.first_sent = self.last_sent
                self.sent += 1
                if self.sent % 1000 == 0:
                    producer.poll(0)
                    bar.update(1000)
            producer.flush(30)
            bar.update(self.sent - bar.n)
        finally:
            bar.close()
        if failures:
            raise KitError(
                f"{len(failures)} record(s) were not delivered; first: {failures[0]}"
            )


def _span(seconds: float) -> str:
    """
    >>> _span(7000.0), _span(42.2), _span(0.4)
    ('1 h 56 min', '42 s', '0.4 s')
    """
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


def replay(
    source: str | Path | pl.DataFrame,
    topic: str,
    *,
    speed: float | None = 1.0,
    key: str | None = None,
    timestamp: str | None = None,
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None,
    keep_timestamps: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    connection: Connection | None = None,
) -> Replay:
    """Replay a file (JSON Lines, CSV, Parquet, optionally .gz) or a Polars
    frame into ``topic`` in the background.

    Args:
        speed: 1.0 keeps the recorded timing, 10 plays ten times faster,
            ``None`` sends as fast as possible.
        key: column whose value keys each record (e.g. ``"car"``).
        timestamp: column holding record times (default: the first of
            ``_timestamp``, ``timestamp``, ``ts``, ``time``, ``datetime``,
            ``date``).
        timestamp_unit: the unit of a numeric time column (``s``, ``ms``,
            ``us``, ``ns``); by default from its name (``session_ms``) or, for
            epoch times, its size.
        keep_timestamps: stamp records with their original times instead of
            the replay's own clock.
        quiet: do not print the line saying what is replayed and how long it
            should take.
        progress: show a progress bar (default: unless headless, where a
            background bar would land, as a widget, in whichever cell runs
            next).

    A JSON (Lines) file's records are sent exactly as the file has them. A
    frame's (or a CSV or Parquet file's) rows are sent as JSON objects in
    their own shape: columns starting with ``_``, such as those of
    :func:`kit.read`, left out; dotted columns nested again; nulls left out.
    The topic is created if needed.
    """
    import polars as pl

    conn = _session.current(connection)
    values = None
    if isinstance(source, pl.DataFrame):
        frame = source
    else:
        frame, values = load_records(source)
    if key is None and "_key" in frame.columns:
        key = "_key"
    if speed is not None and speed <= 0:
        raise ConfigurationError(
            f"speed={speed} must be above 0 (or None: as fast as possible)."
        )
    if progress is None:
        from ..headless import is_headless

        progress = not is_headless()
    if timestamp_unit is not None and timestamp_unit not in UNITS:
        raise KitError(
            f"timestamp_unit={timestamp_unit!r} is not a unit; choose one of "
            f"{', '.join(UNITS)}."
        )
    conn.create_topic(topic, partitions=1)
    job = Replay(
        frame,
        topic,
        speed=speed,
        key=key,
        timestamp=timestamp,
        keep_timestamps=keep_timestamps,
        progress=progress,
        connection=conn,
        timestamp_unit=timestamp_unit,
        values=values,
    )
    if not quiet:
        print(job.plan())
    return job.start()
