"""One code generator: a cell's function is the same code in its prototype, in
an exported ``steps.py`` and in a live run, whatever shape the cell has
(semicolons, a last expression over several lines, comments, an assignment
last, defs and decorators, multi-line strings, non-ASCII text)."""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain
from kit.chain.prototype import cell_error, compile_step, namespace
from kit.chain.step import CellStep

SHAPES = {
    "semicolons": 'parts = pl.col("lap").str.split(":"); df.with_columns(n=parts.list.len())',
    "multiline": 'df.with_columns(\n    n=pl.col("lap").str.len_chars(),\n    # a comment inside\n)',
    "comments": "# first, a comment\ndf.with_columns(n=pl.lit(1))  # trailing\n# and one after",
    "assignment": "df = df.with_columns(n=pl.lit(2))",
    "defs": (
        "import functools\n\n@functools.lru_cache\ndef factor():\n    return 3\n\n"
        "def times(c):\n    return pl.col(c).str.len_chars() * factor()\n\n"
        'df.with_columns(n=times("lap"))'
    ),
    "strings": 'note = """first line\n  second line, indented"""\ndf.with_columns(n=pl.lit(4), note=pl.lit(note))',
    "unicode": 'x = "é→"; df.with_columns(n=pl.lit(5), note=pl.lit(x))',
    "parenthesised": "(\n    df\n    .with_columns(n=pl.lit(6))\n)",
}

FRAME = pl.DataFrame({"lap": ["1:45.149", "2:01.5", "59.9"]})


def _prototype(step: CellStep) -> pl.DataFrame:
    result: pl.DataFrame = compile_step(step, namespace(Chain(), [step]))(FRAME.clone())
    return result


def _exported(step: CellStep, tmp_path: Path) -> pl.DataFrame:
    chain = Chain()
    chain.add_step(step)
    folder = export_chain(chain, tmp_path / step.name, name="s", topics=["t"])
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(
            f"steps_{step.name}", folder / "steps.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    result: pl.DataFrame = module.STEPS[0].func(FRAME.clone())
    return result


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_prototype_and_export_run_the_same_function(shape: str, tmp_path: Path) -> None:
    step = CellStep(shape, "polars", "t", None, SHAPES[shape])
    prototype = _prototype(step)
    assert "n" in prototype.columns
    assert prototype.equals(_exported(step, tmp_path))
    if shape == "strings":  # the string's text is the cell's, not re-indented
        assert prototype["note"][0] == "first line\n  second line, indented"


def test_errors_point_at_the_cells_lines() -> None:
    step = CellStep(
        "bad", "polars", "t", None, 'x = 1\n\ndf.with_columns(n=pl.col("nope"))'
    )
    with pytest.raises(Exception) as raised:
        _prototype(step)
    error = cell_error(step, raised.value)
    assert "line 3 of cell 'bad'" in str(error) and 'pl.col("nope")' in str(error)


@pytest.mark.slow
def test_every_shape_runs_live(ip: Any, connection: kit.Connection) -> None:
    """All the shapes as one chain, live: the output equals the prototypes'."""
    from kit.chain.capture import kernel_chain

    suffix = uuid.uuid4().hex[:8]
    source, service = f"shapes-{suffix}", f"shapes-{suffix}"
    connection.create_topic(source, partitions=1)
    producer = connection.producer()
    for lap in FRAME["lap"]:
        producer.produce(source, value=f'{{"lap": "{lap}"}}'.encode())
    producer.flush(10)
    kernel_chain().steps.clear()
    previous = source
    prototype = None
    try:
        for shape in sorted(SHAPES):
            name = f"{shape}_{suffix}"
            body = SHAPES[shape].replace("n=", f"n_{shape}=")
            cell = f"%%stream {name} --input {previous}\n{body}"
            prototype = ip.run_cell(cell, store_history=True).result
            previous = name
        assert isinstance(prototype, pl.DataFrame) and prototype.height == FRAME.height
        assert {f"n_{shape}" for shape in SHAPES} <= set(prototype.columns)
        live = ip.run_line_magic("stream", f"run --name {service}")
        deadline = time.monotonic() + 60
        while (out := kit.read(previous, dedupe=True, idle=1.0)).height < FRAME.height:
            assert time.monotonic() < deadline, live.status()
            time.sleep(0.5)
        fields = [c for c in prototype.columns if not c.startswith("_")]
        assert (
            out.select(fields).sort("lap").equals(prototype.select(fields).sort("lap"))
        )
    finally:
        process.stop_service(service)
        kernel_chain().steps.clear()
        made = [f"{shape}_{suffix}" for shape in SHAPES]
        connection.delete_topics([source, *made], force=True)
