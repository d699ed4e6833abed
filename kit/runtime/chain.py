"""What a chain is made of: steps that read one topic and write another.

A **Polars step** is a function ``DataFrame -> DataFrame`` run on
micro-batches; a **Quix step** is a function ``StreamingDataFrame ->
StreamingDataFrame`` (windows, per-key state, joins). Exported ``steps.py``
files and live runs both build a list of :class:`Step`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DLQ_SUFFIX", "ID_HEADER", "Step", "StepKind"]

StepKind = Literal["polars", "quix"]

#: Header carrying a record's identity: ``<source topic>/<partition>/<offset>``
#: of the input record it came from (``/n`` for the n-th row from one input).
#: Duplicates from at-least-once replays carry the same identity.
ID_HEADER = "kit-id"

#: Bad records of topic ``t`` go to ``t`` + DLQ_SUFFIX.
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Step:
    """One step of a chain.

    Args:
        name: the step's name (its ``%%stream`` cell name).
        kind: ``polars`` or ``quix``.
        input: the topic it reads.
        output: the topic it writes.
        func: the transform (see the module docstring).
        batch_size: records per micro-batch (Polars steps).
        schema: the input values' schema contract (Polars steps).
    """

    name: str
    kind: StepKind
    input: str
    output: str
    func: Callable[[Any], Any]
    batch_size: int = 20_000
    #: The nested schema of the input's values as the notebook saw it
    #: (``schema.json``): batches have these fields from the first one on.
    schema: Mapping[str, Any] | None = None

    @property
    def dlq(self) -> str:
        return self.input + DLQ_SUFFIX
