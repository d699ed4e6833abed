"""Synthetic race telemetry: several cars lapping a track, physically plausible.

Each car follows the same track (straights and corners with speed limits),
accelerating at full throttle and braking hard before corners, with a
per-car skill factor. Gear follows speed, rpm follows gear and speed.

>>> gen = TelemetryGenerator(cars=2, seed=1)
>>> rec = gen.step(0.1)[0]
>>> sorted(rec)  # doctest: +NORMALIZE_WHITESPACE
['brake', 'car', 'distance', 'gear', 'lap', 'rpm', 'speed', 'throttle', 'ts',
 'venue']
>>> 0 <= rec["speed"] <= 350 and 1 <= rec["gear"] <= 8
True
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _session
from .._errors import ConfigurationError
from .._jobs import Job

if TYPE_CHECKING:
    from .._demo.feed import AttachedFeed
    from ..connection import Connection

__all__ = ["TRACKS", "DemoProducer", "TelemetryGenerator", "demo", "produce_telemetry"]

#: Tracks as (segment length m, speed limit km/h) pairs; corners are short
#: segments with low limits.
TRACKS: dict[str, list[tuple[float, float]]] = {
    "baku": [(2200.0, 340.0), (120.0, 95.0), (600.0, 260.0), (90.0, 80.0),
             (800.0, 280.0), (150.0, 120.0), (1100.0, 300.0), (140.0, 110.0)],
    "monza": [(1100.0, 345.0), (110.0, 85.0), (900.0, 320.0), (200.0, 170.0),
              (1000.0, 330.0), (160.0, 190.0), (1300.0, 340.0), (180.0, 205.0)],
}  # fmt: skip

_GEAR_TOP_SPEED = [0.0, 95.0, 135.0, 170.0, 205.0, 240.0, 275.0, 310.0, 350.0]
_MAX_RPM = 12500.0
_ACCEL = 9.0  # m/s^2 at full throttle (less at speed)
_BRAKE = 35.0  # m/s^2, about 3.5 g


@dataclass
class _Car:
    number: str
    skill: float
    speed: float = 0.0  # m/s
    distance: float = 0.0  # m into the lap
    lap: int = 1


class TelemetryGenerator:
    """Generates one record per car per step of simulated time.

    Args:
        cars: number of cars (keys ``"1"``, ``"2"``...).
        venue: a key of :data:`TRACKS`.
        seed: makes the run repeatable.
    """

    def __init__(
        self, *, cars: int = 5, venue: str = "baku", seed: int | None = None
    ) -> None:
        if venue not in TRACKS:
            raise ConfigurationError(
                f"venue={venue!r} is not known; choose one of {', '.join(TRACKS)}."
            )
        self.venue = venue
        self._rng = random.Random(seed)
        self._segments = TRACKS[venue]
        self._lap_length = sum(length for length, _ in self._segments)
        self._cars = [
            _Car(
                number=str(i + 1),
                skill=self._rng.uniform(0.93, 1.0),
                distance=-i * 25.0 % self._lap_length,
            )
            for i in range(cars)
        ]
        for car in self._cars:  # a rolling start
            car.speed = 0.9 * car.skill * self._limit(car.distance, 50.0)
        self._clock = time.time()

    def _limit(self, distance: float, lookahead: float) -> float:
        """Lowest speed limit (m/s) within ``lookahead`` metres ahead."""
        limit = float("inf")
        position = 0.0
        for _pass in range(2):
            for length, kmh in self._segments:
                start, end = position, position + length
                if end >= distance and start <= distance + lookahead:
                    limit = min(limit, kmh / 3.6)
                position = end
        return limit

    def step(self, dt: float, *, now: float | None = None) -> list[dict[str, Any]]:
        """Advance ``dt`` seconds; one record per car (``ts`` in epoch ms)."""
        self._clock = now if now is not None else self._clock + dt
        records = []
        for car in self._cars:
            # Braking distance from current speed to the slowest limit ahead.
            braking = car.speed**2 / (2 * _BRAKE) + 20.0
            target = self._limit(car.distance, braking) * car.skill
            accel_cap = _ACCEL * max(0.15, 1.0 - car.speed / (360 / 3.6))
            if car.speed > target:
                throttle, brake = 0.0, min(1.0, (car.speed - target) / 8.0 + 0.3)
                car.speed = max(target, car.speed - _BRAKE * brake * dt)
            else:
                throttle = min(1.0, 0.6 + (target - car.speed) / 10.0)
                brake = 0.0
                car.speed = min(target, car.speed + accel_cap * throttle * dt)
            car.speed = max(0.0, car.speed + self._rng.gauss(0.0, 0.05))
            car.distance += car.speed * dt
            if car.distance >= self._lap_length:
                car.distance -= self._lap_length
                car.lap += 1
            kmh = car.speed * 3.6
            gear = next((g for g in range(1, 9) if kmh <= _GEAR_TOP_SPEED[g]), 8)
            low, high = _GEAR_TOP_SPEED[gear - 1], _GEAR_TOP_SPEED[gear]
            rpm = 4000.0 + (_MAX_RPM - 4000.0) * (kmh - low) / (high - low)
            records.append(
                {
                    "car": car.number,
                    "ts": int(self._clock * 1000),
                    "venue": self.venue,
                    "lap": car.lap,
                    "distance": round(car.distance, 1),
                    "speed": round(kmh, 1),
                    "rpm": int(min(_MAX_RPM, max(4000.0, rpm))),
                    "gear": gear,
                    "throttle": round(throttle, 3),
                    "brake": round(brake, 3),
                }
            )
        return records


def produce_telemetry(
    producer: Any,
    topic: str,
    records: list[dict[str, Any]],
    *,
    headers: list[tuple[str, bytes]] | None = None,
) -> int:
    """Produce one simulation step's records: keyed by car, stamped with
    their own time, as JSON. Returns how many."""
    import json

    extra = {"headers": headers} if headers else {}
    for record in records:
        producer.produce(
            topic,
            key=record["car"].encode(),
            value=json.dumps(record).encode(),
            timestamp=int(record["ts"]),
            **extra,
        )
    producer.poll(0)
    return len(records)


class DemoProducer(Job):
    """Produces demo telemetry to a topic at ``rate`` records per second.

    Records are keyed by car number; the topic is created with 4 partitions
    if it does not exist. Stops after ``duration`` seconds or ``count``
    records if given, else when stopped.
    """

    kind = "demo"

    def __init__(
        self,
        topic: str = "telemetry",
        *,
        rate: float = 50.0,
        cars: int = 5,
        venue: str = "baku",
        duration: float | None = None,
        count: int | None = None,
        seed: int | None = None,
        connection: Connection | None = None,
    ) -> None:
        if rate <= 0:
            raise ConfigurationError(f"rate={rate} must be above 0 records per second.")
        super().__init__(f"demo:{topic}")
        self.topic = topic
        self.rate = rate
        self.duration = duration
        self.count = count
        self.sent = 0
        self.generator = TelemetryGenerator(cars=cars, venue=venue, seed=seed)
        self.cars = cars
        self.connection = _session.current(connection)
        self.connection.create_topic(topic, partitions=4)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "topic": self.topic,
            "sent": self.sent,
            "rate": self.rate,
        }

    def _run(self) -> None:
        producer = self.connection.producer()
        # One step of the simulation makes one record per car.
        dt = self.cars / self.rate
        start = time.monotonic()
        step = 0
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - start
                if self.duration is not None and elapsed >= self.duration:
                    break
                due = start + step * dt
                if due > time.monotonic() and self._stop.wait(due - time.monotonic()):
                    break
                records = self.generator.step(dt, now=time.time())
                if self.count is not None:
                    records = records[: self.count - self.sent]
                self.sent += produce_telemetry(producer, self.topic, records)
                if self.count is not None and self.sent >= self.count:
                    return
                step += 1
        finally:
            producer.flush(10)


def demo(
    topic: str = "telemetry",
    *,
    rate: float = 50.0,
    cars: int = 5,
    venue: str = "baku",
    duration: float | None = None,
    count: int | None = None,
    connection: Connection | None = None,
) -> DemoProducer | AttachedFeed:
    """Start producing synthetic race telemetry into ``topic`` (background).

    Unbounded (no ``duration``, no ``count``) into a topic that ``kit demo``
    already feeds on this broker, it returns that producer's
    :class:`~kit._demo.feed.AttachedFeed` instead of starting another.

    >>> job = kit.demo("telemetry", rate=100)   # doctest: +SKIP
    >>> job.stop()                               # doctest: +SKIP
    """
    from ..headless import DEFAULT_SECONDS, is_headless

    if is_headless() and duration is None and count is None:
        duration = 3 * DEFAULT_SECONDS  # outlives the views that watch it
    if duration is None and count is None:
        # `kit demo` already feeds this topic: use its producer, not a second
        # one (two would draw two traces per car); see kit._demo.feed.
        from .._demo.feed import attached_feed

        attached = attached_feed(topic, _session.current(connection))
        if attached is not None:
            return attached
    return DemoProducer(
        topic,
        rate=rate,
        cars=cars,
        venue=venue,
        duration=duration,
        count=count,
        connection=connection,
    ).start()
