"""Instant prototypes: a step run at once on a snapshot of its input.

A Polars step runs in the kernel on the newest records of its input topic
(or on the upstream step's prototype output). A Quix step runs its real
quixstreams pipeline over the same snapshot, written to a temporary topic,
on the kernel's main thread. The step sees only what the chain captures
(helpers, imports, ``pl``), never other kernel variables.
"""

from __future__ import annotations

import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .step import CellStep, ChainError, step_function_ast

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection
    from .capture import Chain

__all__ = ["Prototype", "namespace", "run_prototype"]


@dataclass
class Prototype:
    """The result of running a step on a snapshot.

    ``input_schema`` is the nested schema of the input's values (what the
    live step's decoder starts from: an export's ``schema.json``);
    ``output_schema`` that of what the step writes (a downstream step's
    input schema).
    """

    step: str
    input: pl.DataFrame
    output: pl.DataFrame
    seconds: float
    input_schema: dict[str, Any] = field(default_factory=dict)
    output_schema: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> list[str]:
        """Metadata columns the input had and the output lacks: live, its
        records get no key (``_key``), or the batch's newest time
        (``_timestamp``), which windows downstream then see as one instant."""
        return [
            c
            for c in ("_key", "_timestamp")
            if c in self.input.columns
            and c not in self.output.columns
            and self.output.height > 0
        ]

    def summary(self) -> str:
        if self.input.height == 0:
            return (
                f"{self.step}: 0 rows in: no input records yet, so the step did not "
                "run (re-run the cell once its input has data)"
            )
        schema = ", ".join(
            f"{n}: {t}" for n, t in self.output.schema.items() if not n.startswith("_")
        )
        text = (
            f"{self.step}: {self.input.height:,} rows in → {self.output.height:,} out "
            f"in {self.seconds * 1000:.1f} ms · {schema}"
        )
        if self.dropped:
            names = " and ".join(self.dropped)
            text += (
                f" ⚠ The output has no {names}: live, its records get "
                + ("no key" if "_key" in self.dropped else "")
                + (" and " if len(self.dropped) == 2 else "")
                + (
                    "the batch's newest time (one instant for a window downstream)"
                    if "_timestamp" in self.dropped
                    else ""
                )
                + f'; keep {names} in a select (e.g. df.select("_key", "_timestamp", ...)).'
            )
        return text


def namespace(chain: Chain, steps: list[CellStep]) -> dict[str, Any]:
    """Globals for running steps: ``pl``, captured imports, helper cells."""
    import polars as pl

    ns: dict[str, Any] = {"pl": pl, "__name__": "kit_steps"}
    for line in chain.needed_imports(steps):
        exec(line, ns)
    for name, source in chain.helpers.items():
        exec(compile(source, f"<%%stream helpers {name}>", "exec"), ns)
    return ns


def compile_step(step: CellStep, ns: dict[str, Any]) -> Any:
    """The step's function, compiled from the very source an export writes
    (:func:`~kit.chain.step.step_function_source`), with the cell's line
    numbers so tracebacks name the cell's lines."""
    code = compile(step_function_ast(step), f"<%%stream {step.name}>", "exec")
    exec(code, ns)
    return ns[_func_name(step)]


def _func_name(step: CellStep) -> str:
    from .step import _identifier

    return _identifier(step.name)


def cell_error(step: CellStep, exc: BaseException) -> ChainError:
    """A ChainError naming the line of the cell where ``exc`` happened."""
    filename = f"<%%stream {step.name}>"
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    text = ""
    if line is not None:
        lines = step.source.splitlines()
        if 0 < line <= len(lines):
            text = f": {lines[line - 1].strip()}"
    where = f"line {line} of cell {step.name!r}" if line else f"cell {step.name!r}"
    return ChainError(
        f"{type(exc).__name__} at {where}{text}\n{type(exc).__name__}: {exc}"
    )


def run_prototype(
    chain: Chain,
    step: CellStep,
    *,
    connection: Connection,
    rows: int,
    cache: dict[str, Prototype],
) -> Prototype:
    """Run ``step`` on a snapshot of its input; upstream prototypes first."""
    frame, shape = _input_frame(
        chain, step, connection=connection, rows=rows, cache=cache
    )
    ns = namespace(chain, chain.ordered([step.name]))
    started = time.perf_counter()
    if frame.height == 0:
        # Nothing to run on yet (an empty topic, or an upstream prototype that
        # output nothing): the input has no value columns a step could use.
        compile_step(step, ns)  # syntax errors still show at once
        output, written = frame.clear(), dict(shape)
    elif step.kind == "polars":
        func = compile_step(step, ns)
        try:
            result = func(frame.clone())
        except Exception as exc:
            raise cell_error(step, exc) from None
        from ..runtime.batch import checked

        try:
            output = checked(result)
        except TypeError as exc:
            raise ChainError(f"Cell {step.name!r}: {exc}.") from None
    else:
        output, written, _values = _run_quix(
            step, ns, frame, shape, connection=connection,
            topic_input=step.input not in chain.steps,
        )  # fmt: skip
    if step.kind == "polars":
        from ..runtime.encode import output_schema

        written = output_schema(output.schema, shape)
    took = time.perf_counter() - started
    prototype = Prototype(step.name, frame, output, took, shape, written)
    cache[step.name] = prototype
    return prototype


def _input_frame(
    chain: Chain,
    step: CellStep,
    *,
    connection: Connection,
    rows: int,
    cache: dict[str, Prototype],
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The snapshot a step runs on, and its values' nested schema."""
    upstream = chain.steps.get(step.input)
    if upstream is not None:
        if upstream.name not in cache:
            run_prototype(
                chain, upstream, connection=connection, rows=rows, cache=cache
            )
        return cache[upstream.name].output, cache[upstream.name].output_schema
    from ..io.read import read_decoded

    frame, decoder = read_decoded(
        step.input, last=rows, connection=connection, progress=False, idle=2.0
    )
    return frame, decoder.raw


#: Partitions of the topics a live run creates for step outputs.
LIVE_PARTITIONS = 4


def _run_quix(
    step: CellStep,
    ns: dict[str, Any],
    frame: pl.DataFrame,
    shape: dict[str, Any],
    *,
    connection: Connection,
    topic_input: bool = True,
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """Run a Quix step's pipeline over the snapshot (a temporary topic, which
    gets the records as the live input has them: in the input's shape).

    Returns its outputs as a step downstream gets them live (decoded like
    ``kit.read`` decodes them), their nested schema, and the values as the
    live run writes them (its JSON: a ``None`` is written ``null``).
    """
    import tempfile

    import polars as pl

    from ..runtime.encode import encode_rows

    func = compile_step(step, ns)
    topic = f"__kit_proto_{step.name}_{uuid.uuid4().hex[:8]}"
    # The records in the order and partitions they arrive in live: a topic's
    # records in their own partitions, in offset order (so a record that
    # came late is late here too); a step's, by key, as its producer writes.
    arrival = [c for c in ("_partition", "_offset") if c in frame.columns]
    if arrival:
        frame = frame.sort(arrival)
    own = topic_input and "_partition" in frame.columns and frame.height > 0
    partitions = int(frame["_partition"].max() or 0) + 1 if own else LIVE_PARTITIONS  # type: ignore[arg-type]
    connection.create_topic(topic, partitions=partitions)
    try:
        values, keys, stamps, _ids = encode_rows(
            frame, source=topic, batch_tag="p", shape=shape
        )
        targets = frame["_partition"].to_list() if own else [-1] * frame.height
        producer = connection.producer()
        for value, key, stamp, target in zip(
            values, keys, stamps, targets, strict=True
        ):
            producer.produce(topic, value.encode(), key, target, timestamp=stamp)
        producer.flush(30)
        with tempfile.TemporaryDirectory(prefix="kit-proto-") as state:
            app = connection.application(
                # Its temporary topics are read at once (a group_by's
                # repartition topic too): exactly-once would hide them from
                # read_committed readers until a checkpoint, after the run's end.
                processing_guarantee="at-least-once",
                consumer_group=f"{topic}-group",
                auto_offset_reset="earliest",
                loglevel="WARNING",
                use_changelog_topics=False,
                state_dir=state,
            )
            sdf = app.dataframe(
                app.topic(topic, value_deserializer="json", key_deserializer="str")
            )
            try:
                sdf = func(sdf)
            except Exception as exc:
                raise cell_error(step, exc) from None
            rows = app.run(timeout=2.0, collect=True, metadata=True)
    finally:
        # With it, the topics quixstreams made for it (group_by's
        # repartition topics, "repartition__<topic>--...").
        names = connection.admin().list_topics(timeout=10).topics
        made = [name for name in names if topic in name]
        connection.delete_topics(sorted({topic, *made}))
    if not rows:
        return pl.DataFrame(), {}, []
    return _as_read(step, rows)


def _as_read(
    step: CellStep, rows: list[Any]
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """Collected outputs as ``kit.read`` of the live output gives them: the
    values as written (JSON), decoded and flattened, after the metadata."""
    import polars as pl

    from ..runtime.decode import ERROR, Decoder

    meta = ("_key", "_timestamp", "_headers", "_topic", "_partition", "_offset")
    written = _as_written(
        step, [{k: v for k, v in r.items() if k not in meta} for r in rows]
    )
    decoder = Decoder()
    values = decoder.decode([v.encode() for v in written]).drop(ERROR)
    stamps = [r.get("_timestamp") for r in rows]
    out = pl.DataFrame(
        {
            "_key": pl.Series([r.get("_key") for r in rows], dtype=pl.String),
            "_timestamp": pl.Series(stamps, dtype=pl.Int64).cast(
                pl.Datetime("ms", "UTC")
            ),
            "_partition": pl.Series(
                [r.get("_partition") for r in rows], dtype=pl.Int32
            ),
            "_offset": pl.Series([r.get("_offset") for r in rows], dtype=pl.Int64),
        }
    )
    return pl.concat([out, values], how="horizontal"), decoder.raw, written


def _as_written(step: CellStep, values: list[Any]) -> list[str]:
    """The values as the live run writes them (its JSON), so a value it could
    not write fails here, naming the cell, and not in the live run."""
    from ..runtime.quix_step import json_dumps

    try:
        return [json_dumps(value).decode() for value in values]
    except TypeError as exc:
        raise ChainError(
            f"Cell {step.name!r} outputs a value JSON cannot hold ({exc}), so the live "
            "run could not write it: return numbers, text, booleans, lists and dicts "
            "(numpy numbers and arrays are fine)."
        ) from None
