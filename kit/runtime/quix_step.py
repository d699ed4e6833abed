"""Quix steps: quixstreams operations (windows, per-key state) on a topic.

Each step becomes a StreamingDataFrame of one shared ``Application``:
``input`` (JSON values, text keys) → the step's function → ``output``. Every
output record carries a ``kit-id`` identity header: the coordinates of the
input record that produced it (for a window, the record that closed it), so
duplicates from an at-least-once replay can be dropped by readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chain import ID_HEADER, Step
from .status import StepStatus

if TYPE_CHECKING:
    from quixstreams import Application

__all__ = ["attach_quix_step"]


def attach_quix_step(app: Application, step: Step, status: StepStatus) -> None:
    """Add ``step`` to ``app``: read, transform, stamp identity, write."""
    from quixstreams import message_context

    source = app.topic(step.input, value_deserializer="json", key_deserializer="str")
    sink = app.topic(step.output, value_serializer="json", key_serializer="str")
    sdf = app.dataframe(source)

    def count_in(value: Any) -> Any:
        status.count_in(1)
        return value

    sdf = sdf.update(count_in)
    sdf = step.func(sdf)
    if sdf is None:
        raise TypeError(
            f"Quix step {step.name!r} must leave a StreamingDataFrame in `sdf`."
        )

    def identity(value: Any, key: Any, timestamp: int, headers: Any) -> Any:
        ctx = message_context()
        kept = [(k, v) for k, v in (headers or []) if k != ID_HEADER]
        status.records_out += 1
        return [*kept, (ID_HEADER, f"{ctx.topic}/{ctx.partition}/{ctx.offset}")]

    sdf = sdf.set_headers(identity)
    sdf.to_topic(sink)
    status.state = "running"
