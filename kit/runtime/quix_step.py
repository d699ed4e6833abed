"""Quix steps: quixstreams operations (windows, per-key state) on a topic.

Each step becomes a StreamingDataFrame of one shared ``Application``:
``input`` (JSON values, text keys) → the step's function → ``output``. Every
output record carries a ``kit-id`` identity header: the coordinates of the
input record that produced it (for a window, the record that closed it), so
duplicates from an at-least-once replay can be dropped by readers. When one
input record yields several outputs (windows of several keys closed by one
record, hopping windows, ``expand=True``), the second and later are numbered
``/1``, ``/2``...: outputs come in the same order when a record is processed
again, so the identities are the same too.

Bad records never stop a Quix step: an undecodable value, a value that is
not a JSON object, and a record the step's code fails on, go to
``<input>.dlq`` (:class:`DeadLetters`), as for
Polars steps; a step that fails on every record of a run of them is broken
(:mod:`.broken`) and stops the service.

Records an upstream kit step wrote twice (same ``kit-id``: an at-least-once
replay after a crash) are dropped before the step sees them, so a window
never counts a record twice; they are counted in ``duplicates``. (Identities
name their input topic's incarnation, so the records of a topic deleted and
created again are new ones, never dropped as repeats.)

Records a time window drops because they arrive after it closed ("late")
are counted in the step's status (``late``): the windows the step defines
get an ``on_late`` callback that counts them (and calls the step's own
``on_late``, if it passes one). quixstreams logs the first few of them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .batch import source_name
from .broken import Breaker, where
from .chain import DLQ_SUFFIX, ID_HEADER, Step
from .errors import KitError
from .status import StepStatus

if TYPE_CHECKING:
    from quixstreams import Application

    from .profile import BrokerSettings

__all__ = ["DeadLetters", "attach_quix_step", "json_dumps"]


def json_dumps(value: Any) -> bytes:
    """JSON as quixstreams writes it (orjson, a quixstreams dependency), numpy
    scalars and arrays included: step functions often return them.

    >>> import numpy as np
    >>> json_dumps({"bpm": np.float64(97.5), "n": np.int64(3), "xs": np.arange(2)})
    b'{"bpm":97.5,"n":3,"xs":[0,1]}'
    """
    import orjson

    options = (
        orjson.OPT_PASSTHROUGH_DATETIME  # as quixstreams' own JSON serializer
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_SERIALIZE_NUMPY
    )
    return orjson.dumps(value, option=options)


def attach_quix_step(
    app: Application,
    step: Step,
    status: StepStatus,
    settings: BrokerSettings | None = None,
) -> None:
    """Add ``step`` to ``app``: read, transform, stamp identity, write.

    The identities of its outputs start, like a Polars step's, with the
    topic they came from and its incarnation (asked of ``settings``' broker
    once per topic; see :func:`.batch.source_name`)."""
    from quixstreams import message_context
    from quixstreams.models.serializers.json import JSONSerializer

    source = app.topic(step.input, value_deserializer="json", key_deserializer="str")
    sink = app.topic(
        step.output,
        value_serializer=JSONSerializer(dumps=json_dumps),
        key_serializer="str",
    )
    sdf = app.dataframe(source)
    # A record a kit step upstream wrote again (an at-least-once replay after a
    # crash, or its input read again) would count twice in a window: drop it.
    sdf = sdf.filter(_first_time(status), stateful=True, metadata=True)

    numbering = _Numbering()

    def count_in(value: Any) -> Any:
        status.count_in(1)
        numbering.next_input()
        if not isinstance(value, dict):  # as for Polars steps: a bad record
            raise NotAnObject(f"not a JSON object: {type(value).__name__}")
        return value

    sdf = sdf.update(count_in)
    with _counting_late(status):
        sdf = step.func(sdf)
    if sdf is None:
        raise TypeError(
            f"Quix step {step.name!r} must leave a StreamingDataFrame in `sdf`."
        )

    names: dict[str, str] = {}

    def identity(value: Any, key: Any, timestamp: int, headers: Any) -> Any:
        ctx = message_context()
        kept = [(k, v) for k, v in (headers or []) if k != ID_HEADER]
        status.records_out += 1
        name = names.get(ctx.topic)
        if name is None:
            name = source_name(settings, ctx.topic) if settings else ctx.topic
            names[ctx.topic] = name
        source = f"{name}/{ctx.partition}/{ctx.offset}"
        return [*kept, (ID_HEADER, numbering.identity(source))]

    sdf = sdf.set_headers(identity)
    sdf.to_topic(sink)
    status.state = "running"


#: The StreamingDataFrame methods that define time windows (they take ``on_late``).
TIME_WINDOWS = ("tumbling_window", "hopping_window", "sliding_window", "session_window")

#: Late records quixstreams logs per step (the count is in the status).
LOGGED_LATE = 3


@contextlib.contextmanager
def _counting_late(status: StepStatus) -> Iterator[None]:
    """While a step's function builds its pipeline, every time window it
    defines counts its late records in ``status.late``."""
    from quixstreams.dataframe import StreamingDataFrame

    saved = {name: getattr(StreamingDataFrame, name) for name in TIME_WINDOWS}

    def counting(define: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(define)
        def window(self: Any, *args: Any, on_late: Any = None, **kwargs: Any) -> Any:
            return define(self, *args, on_late=_late_counter(status, on_late), **kwargs)

        return window

    for name, define in saved.items():
        setattr(StreamingDataFrame, name, counting(define))
    try:
        yield
    finally:
        for name, define in saved.items():
            setattr(StreamingDataFrame, name, define)


def _late_counter(
    status: StepStatus, on_late: Callable[..., bool] | None
) -> Callable[..., bool]:
    """An ``on_late`` callback: counts, then defers to the step's own.

    >>> from kit.runtime.status import StepStatus
    >>> s = StepStatus("w", "quix", "in", "out", "at-least-once")
    >>> count = _late_counter(s, None)
    >>> [count() for _ in range(5)], s.late
    ([True, True, True, False, False], 5)
    """

    def late(*args: Any) -> bool:
        status.late += 1
        if on_late is not None:
            return bool(on_late(*args))
        return status.late <= LOGGED_LATE

    return late


class _Numbering:
    """Identities of the outputs of one input record: its coordinates, then
    ``source/1``, ``source/2``... Numbering starts again for each record taken
    in (``next_input()``) and whenever the source changes (after a
    ``group_by``, outputs come from the repartition topic's records), so a
    record processed again gets the same identities.

    >>> n = _Numbering()
    >>> n.next_input(); [n.identity("t/0/5") for _ in range(3)]
    ['t/0/5', 't/0/5/1', 't/0/5/2']
    >>> n.next_input(); n.identity("t/0/5"), n.identity("r/1/7"), n.identity("r/1/7")
    ('t/0/5', 'r/1/7', 'r/1/7/1')
    """

    def __init__(self) -> None:
        self.source: str | None = None
        self.count = 0

    def next_input(self) -> None:
        self.source = None

    def identity(self, source: str) -> str:
        if source != self.source:
            self.source, self.count = source, 0
            return source
        self.count += 1
        return f"{source}/{self.count}"


def source_position(identity: Any) -> tuple[str, tuple[int, int]] | None:
    """``(source partition, (offset, n))`` of a ``kit-id`` identity, or
    ``None`` for one without an offset (an aggregating step's batch tag).

    >>> source_position(b"laps~AaIyQo8x/2/118"), source_position("laps/2/118/3")
    (('laps~AaIyQo8x/2', (118, 0)), ('laps/2', (118, 3)))
    >>> source_position("laps/b2.0/5") is None
    True
    """
    if isinstance(identity, bytes):
        identity = identity.decode(errors="replace")
    parts = str(identity).split("/")
    try:
        offset, n = int(parts[2]), int(parts[3]) if len(parts) > 3 else 0
        int(parts[1])
    except (IndexError, ValueError):
        return None
    return f"{parts[0]}/{parts[1]}", (offset, n)


def _first_time(status: StepStatus) -> Callable[..., bool]:
    """A stateful filter: keeps a record unless a record with its identity,
    or a later one of the same source partition, was seen before for its key
    (a kit step writes each key's records in source order, so an identity at
    or before the last one seen is a repeat). Repeats are counted in
    ``status.duplicates``."""

    def first_time(
        value: Any, key: Any, timestamp: int, headers: Any, state: Any
    ) -> bool:
        identity = next((v for k, v in headers or () if k == ID_HEADER), None)
        found = source_position(identity) if identity is not None else None
        if found is None:
            return True
        where, position = found
        last = state.get(where)
        if last is not None and tuple(last) >= position:
            status.duplicates += 1
            return False
        state.set(where, list(position))
        return True

    return first_time


class NotAnObject(KitError, ValueError):
    """A value that is JSON but not an object: a dead letter, not a failure
    of the step (it does not count towards a broken step)."""


class DeadLetters:
    """quixstreams' error callbacks for the Quix steps of one app: a record
    that cannot be decoded, or that a step fails on, becomes a dead letter
    of the step's input (through the app's own producer, so it is delivered
    before the record's offset is committed, and inside the transaction
    under exactly-once).

    >>> from kit.runtime.chain import Step
    >>> letters = DeadLetters([Step("w", "quix", "laps", "pace", None)], {})
    >>> letters.step_for("repartition__kit-x-quix--laps--car").name
    'w'
    """

    def __init__(self, steps: list[Step], statuses: dict[str, StepStatus]) -> None:
        self.steps = steps
        self.statuses = statuses
        self.app: Any = None
        self.breakers = {s.name: Breaker(s.name) for s in steps}
        self._last_failed: dict[str, int] = {}

    def step_for(self, topic: str) -> Step:
        """The step that reads ``topic`` (or, for a repartition topic, whose
        input it repartitions)."""
        exact = [s for s in self.steps if s.input == topic]
        if exact:
            return exact[0]
        inside = [s for s in self.steps if f"--{s.input}--" in topic]
        return (inside or self.steps)[0]

    def on_consumer_error(self, exc: Exception, message: Any, logger: Any) -> bool:
        if message is None or message.error() is not None:
            return False  # the broker, not a record: quixstreams raises it
        step = self.step_for(message.topic())
        reason = f"not JSON: {exc}"
        self._dead(step, message.value() or b"", message.key(), message, reason)
        return True

    def on_processing_error(self, exc: Exception, row: Any, logger: Any) -> bool:
        if row is None:
            return False
        step = self.step_for(row.topic)
        status = self.statuses[step.name]
        if isinstance(exc, NotAnObject):
            self._dead(step, json_dumps(row.value), _key(row), row, str(exc))
            return True
        breaker = self.breakers[step.name]
        # In a row: no record of the input got through since the last failure.
        if status.records_in > self._last_failed.get(step.name, -1) + 1:
            breaker.ok()
        self._last_failed[step.name] = status.records_in
        reason = f"step {step.name!r} failed: {type(exc).__name__}: {exc}"
        if breaker.failed(1, f"{type(exc).__name__}: {exc}", where(exc)):
            raise breaker.error() from exc
        try:
            value = json_dumps(row.value)
        except TypeError:
            value = repr(row.value).encode()
        self._dead(step, value, _key(row), row, reason)
        return True

    def _dead(
        self, step: Step, value: bytes, key: Any, source: Any, reason: str
    ) -> None:
        topic, partition, offset = _coordinates(source)
        headers = [
            ("kit-error", reason[:2000]),
            ("kit-step", step.name),
            ("kit-source-topic", topic),
            ("kit-source-partition", str(partition)),
            ("kit-source-offset", str(offset)),
            (ID_HEADER, f"{topic}/{partition}/{offset}"),
        ]
        self.app._producer.produce(
            step.input + DLQ_SUFFIX, value=value, key=key, headers=headers
        )
        status = self.statuses[step.name]
        status.dlq += 1
        status.last_error = reason


def _key(row: Any) -> bytes | None:
    key = row.key
    return key if isinstance(key, bytes | None) else str(key).encode()


def _coordinates(source: Any) -> tuple[str, int, int]:
    """(topic, partition, offset) of a confluent message or a quixstreams Row."""
    if callable(getattr(source, "topic", None)):
        return source.topic(), source.partition(), source.offset()
    return source.topic, source.partition, source.offset
