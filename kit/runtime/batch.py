"""A Polars step's function on one micro-batch: the whole batch at once, row
by row where it fails (one bad record costs its own row, not the batch); and
what the identities of a step's outputs start with."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .broken import where
from .errors import KitError

if TYPE_CHECKING:
    import polars as pl

    from .profile import BrokerSettings

__all__ = ["checked", "run_batch", "source_name", "where_it_fails"]


def run_batch(
    func: Callable[[pl.DataFrame], pl.DataFrame], frame: pl.DataFrame
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """Apply ``func`` to a batch; if it fails, find the rows it fails on.

    Returns the output frame and ``(row index, error)`` for failing rows. A
    batch that fails is retried row by row, so one bad record costs its own
    row and not the batch.
    """
    import polars as pl

    try:
        return checked(func(frame)), []
    except Exception:
        pass
    outputs, failures = [], []
    for i in range(frame.height):
        try:
            outputs.append(checked(func(frame.slice(i, 1))))
        except Exception as exc:
            failures.append((i, f"{type(exc).__name__}: {exc}"))
    out = pl.concat(outputs, how="diagonal_relaxed") if outputs else frame.clear()
    return out, failures


def source_name(settings: BrokerSettings, topic: str, *, timeout: float = 60.0) -> str:
    """What the identities of a step's outputs start with: the input topic,
    and the first characters of its topic id (``telemetry~AaIyQo8x``), so
    that the records of a topic deleted and created again (whose offsets
    start again at 0) never share an identity with those of the old one: a
    reader dropping repeats by identity would drop new records. Just the
    topic where the broker gives no topic ids.

    A broker that is slow to answer is asked again (up to ``timeout``): an
    identity must not change between two runs of a step on the same topic,
    or a reader would take the second run's repeats for new records.
    """
    from confluent_kafka import KafkaError, TopicCollection
    from confluent_kafka.admin import AdminClient

    unsupported = (KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION)
    admin = AdminClient(settings.client_config())
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = admin.describe_topics(TopicCollection([topic]), request_timeout=10)
            topic_id = str(found[topic].result(15).topic_id)
            break
        except Exception as exc:
            code = getattr(getattr(exc, "args", [None])[0], "code", lambda: None)()
            if code in unsupported:  # a broker without DescribeTopics
                return topic
            if time.monotonic() > deadline:
                raise KitError(
                    f"Could not learn the topic id of {topic!r} from the broker "
                    f"in {timeout:.0f} s ({exc}); the step's record identities "
                    "need it."
                ) from exc
            time.sleep(1.0)
    zero = topic_id in ("", "None", "AAAAAAAAAAAAAAAAAAAAAA")
    return topic if zero else f"{topic}~{topic_id[:8]}"


def where_it_fails(func: Callable[[pl.DataFrame], Any], frame: pl.DataFrame) -> str:
    """Where ``func`` fails on the first row of ``frame`` (its line)."""
    try:
        checked(func(frame.slice(0, 1)))
    except Exception as exc:
        return where(exc)
    return ""


def checked(result: Any) -> pl.DataFrame:
    import polars as pl

    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if not isinstance(result, pl.DataFrame):
        raise TypeError(
            f"a Polars step must evaluate to a polars.DataFrame, not {type(result).__name__}"
        )
    return result
