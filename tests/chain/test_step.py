"""Cells to functions, captured imports, and what export refuses (no broker)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from kit.chain.capture import Chain, chain_from_notebook, import_lines, parse_cell_line
from kit.chain.prototype import cell_error, compile_step, namespace
from kit.chain.step import CellStep, ChainError, step_function_source


def _step(
    source: str, name: str = "s", kind: str = "polars", input: str = "t"
) -> CellStep:
    return CellStep(name=name, kind=kind, input=input, output=None, source=source)  # type: ignore[arg-type]


def test_last_expression_is_the_result() -> None:
    code = step_function_source(_step('x = 2\ndf.with_columns(y=pl.col("a") * x)'))
    assert code.splitlines()[-1] == '    return df.with_columns(y=pl.col("a") * x)'
    chain = Chain()
    func = compile_step(
        _step('x = 2\ndf.with_columns(y=pl.col("a") * x)'), namespace(chain, [])
    )
    assert func(pl.DataFrame({"a": [1, 2]}))["y"].to_list() == [2, 4]


def test_a_block_ending_in_a_statement_returns_df() -> None:
    func = compile_step(_step("df = df.head(1)\nn = 3"), namespace(Chain(), []))
    assert func(pl.DataFrame({"a": [1, 2]})).height == 1
    assert "return df" in step_function_source(_step("df = df.head(1)\nn = 3"))


def test_quix_step_returns_sdf() -> None:
    code = step_function_source(_step("sdf = sdf.apply(f)", kind="quix"))
    assert code.rstrip().endswith("return sdf")


def test_errors_point_at_the_line_of_the_cell() -> None:
    step = _step("a = 1\nb = 2\ndf.select(pl.col('nope'))")
    func = compile_step(step, namespace(Chain(), []))
    with pytest.raises(Exception) as info:
        func(pl.DataFrame({"a": [1]}))
    message = str(cell_error(step, info.value))
    assert "line 3 of cell 's'" in message and "pl.col('nope')" in message
    assert "ColumnNotFoundError" in message


def test_imports_of_ordinary_cells_are_captured_when_used() -> None:
    chain = Chain()
    chain.add_imports_from(
        [
            "import numpy as np\nimport math",
            "%matplotlib inline\nfrom datetime import timedelta",
        ]
    )
    step = _step("df.with_columns(r=np.sqrt(pl.col('a')))")
    chain.add_step(step)
    assert chain.needed_imports([step]) == ["import numpy as np"]
    chain.validate([step])
    assert import_lines("from a.b import c as d") == {"d": "from a.b import c as d"}


def test_uncaptured_kernel_state_is_refused_with_the_cell_name() -> None:
    chain = Chain()
    step = _step("df.filter(pl.col('speed') > threshold)", name="fast")
    chain.add_step(step)
    with pytest.raises(
        ChainError, match=r"Step 'fast' uses threshold, defined in no captured cell"
    ):
        chain.validate([step])
    chain.add_helpers("limits", "threshold = 300")
    chain.validate([step])


def test_secrets_are_refused() -> None:
    chain = Chain()
    step = _step('password = "hunter22"\ndf', name="leaky")
    chain.add_step(step)
    with pytest.raises(
        ChainError, match=r"Cell 'leaky' holds what looks like a secret"
    ):
        chain.validate([step])


def test_undefined_input_is_refused() -> None:
    chain = Chain()
    step = _step("df", name="s", input="nowhere")
    chain.add_step(step)
    with pytest.raises(
        ChainError,
        match=r"reads 'nowhere', which is neither a step nor an existing topic",
    ):
        chain.validate([step], topics=["telemetry"])


def test_order_follows_inputs_and_detects_cycles() -> None:
    chain = Chain()
    chain.add_step(_step("df", name="b", input="a"))
    chain.add_step(_step("df", name="a", input="telemetry"))
    assert [s.name for s in chain.ordered()] == ["a", "b"]
    assert [s.name for s in chain.ordered(["b"])] == ["a", "b"]
    assert chain.topic_of("a") == "a"
    chain.add_step(_step("df", name="a", input="b"))
    with pytest.raises(ChainError, match="cycle"):
        chain.ordered()


def test_cell_line_parsing() -> None:
    assert parse_cell_line("w --input fast --quix")["quix"] is True
    with pytest.raises(ChainError, match="unknown arguments --ouput"):
        parse_cell_line("w --input fast --ouput x")


def test_chain_from_a_saved_notebook(tmp_path: Path) -> None:
    cells = [
        "import polars as pl\nfrom datetime import timedelta",
        "%%stream helpers\nLIMIT = 200",
        "%%stream fast --input telemetry\ndf.filter(pl.col('speed') > LIMIT)",
        "%%stream laps --input fast --quix\nsdf = sdf.tumbling_window(timedelta(seconds=5)).count().final()",
        "print('not captured')",
    ]
    notebook = {
        "cells": [
            {"cell_type": "code", "source": c, "metadata": {}, "outputs": []}
            for c in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "chain.ipynb"
    path.write_text(json.dumps(notebook))
    chain = chain_from_notebook(path)
    assert list(chain.steps) == ["fast", "laps"]
    assert chain.steps["laps"].kind == "quix"
    assert chain.helpers == {"helpers": "LIMIT = 200"}
    assert chain.needed_imports(chain.ordered()) == ["from datetime import timedelta"]
    chain.validate(chain.ordered())
