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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .step import CellStep, ChainError, step_function_ast

if TYPE_CHECKING:
    import polars as pl

    from ..connection import Connection
    from .capture import Chain

__all__ = ["Prototype", "namespace", "run_prototype"]


@dataclass
class Prototype:
    """The result of running a step on a snapshot."""

    step: str
    input: pl.DataFrame
    output: pl.DataFrame
    seconds: float

    def summary(self) -> str:
        if self.input.height == 0:
            return (
                f"{self.step}: 0 rows in: no input records yet, so the step did not "
                "run (re-run the cell once its input has data)"
            )
        schema = ", ".join(
            f"{n}: {t}" for n, t in self.output.schema.items() if not n.startswith("_")
        )
        return (
            f"{self.step}: {self.input.height:,} rows in → {self.output.height:,} out "
            f"in {self.seconds * 1000:.1f} ms · {schema}"
        )


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
    """The step's function, compiled so tracebacks name the cell's lines."""
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
    frame = _input_frame(chain, step, connection=connection, rows=rows, cache=cache)
    ns = namespace(chain, chain.ordered([step.name]))
    started = time.perf_counter()
    if frame.height == 0:
        # Nothing to run on yet (an empty topic, or an upstream prototype that
        # output nothing): the input has no value columns a step could use.
        compile_step(step, ns)  # syntax errors still show at once
        output = frame.clear()
    elif step.kind == "polars":
        func = compile_step(step, ns)
        try:
            result = func(frame.clone())
        except Exception as exc:
            raise cell_error(step, exc) from None
        from ..runtime.polars_step import _checked

        try:
            output = _checked(result)
        except TypeError as exc:
            raise ChainError(f"Cell {step.name!r}: {exc}.") from None
    else:
        output = _run_quix(step, ns, frame, connection=connection)
    prototype = Prototype(step.name, frame, output, time.perf_counter() - started)
    cache[step.name] = prototype
    return prototype


def _input_frame(
    chain: Chain,
    step: CellStep,
    *,
    connection: Connection,
    rows: int,
    cache: dict[str, Prototype],
) -> pl.DataFrame:
    upstream = chain.steps.get(step.input)
    if upstream is not None:
        if upstream.name not in cache:
            run_prototype(
                chain, upstream, connection=connection, rows=rows, cache=cache
            )
        return cache[upstream.name].output
    from ..io.read import read

    return read(step.input, last=rows, connection=connection, progress=False, idle=2.0)


def _run_quix(
    step: CellStep, ns: dict[str, Any], frame: pl.DataFrame, *, connection: Connection
) -> pl.DataFrame:
    """Run a Quix step's pipeline over the snapshot (a temporary topic)."""
    import polars as pl

    from ..io.replay import replay

    func = compile_step(step, ns)
    topic = f"__kit_proto_{step.name}_{uuid.uuid4().hex[:8]}"
    connection.create_topic(topic, partitions=1)
    try:
        replay(frame, topic, speed=None, keep_timestamps="_timestamp" in frame.columns,
               progress=False, connection=connection).wait(60)  # fmt: skip
        app = connection.application(
            consumer_group=f"{topic}-group",
            auto_offset_reset="earliest",
            loglevel="WARNING",
            use_changelog_topics=False,
            state_dir=f"/tmp/{topic}-state",
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
        connection.delete_topics([topic])
    if not rows:
        return pl.DataFrame()
    rows = _as_written(step, rows)
    out = pl.from_dicts(rows, infer_schema_length=None, strict=False)
    out = out.rename(
        {
            c: f"_{c}"
            for c in ("key", "timestamp", "offset", "partition", "topic")
            if f"_{c}" not in out.columns
            and c in out.columns
            and c not in frame.columns
        }
    )
    # The columns a step downstream gets live (as kit.read gives them): the
    # temporary topic's name and the headers are not among them.
    out = out.drop("_topic", "_headers", strict=False)
    if "_timestamp" in out.columns and out["_timestamp"].dtype.is_integer():
        stamps = pl.from_epoch("_timestamp", time_unit="ms").cast(pl.Datetime("ms"))
        out = out.with_columns(stamps.dt.replace_time_zone("UTC"))
    return out


def _as_written(step: CellStep, rows: list[Any]) -> list[Any]:
    """The rows as the live run writes them (JSON there and back), so a value
    it could not write fails here, naming the cell, and not in the live run."""
    import orjson

    from ..runtime.quix_step import json_dumps

    meta = ("_key", "_timestamp", "_headers", "_topic", "_partition", "_offset")
    try:
        return [
            {
                **{k: row[k] for k in meta if k in row},
                **orjson.loads(
                    json_dumps({k: v for k, v in row.items() if k not in meta})
                ),
            }
            for row in rows
        ]
    except TypeError as exc:
        raise ChainError(
            f"Cell {step.name!r} outputs a value JSON cannot hold ({exc}), so the live "
            "run could not write it: return numbers, text, booleans, lists and dicts "
            "(numpy numbers and arrays are fine)."
        ) from None
