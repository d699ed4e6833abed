"""A step as written in a ``%%stream`` cell, and the code made from it.

The cell body becomes a function. A Polars step's last expression is its
result (like a notebook cell's), or, if the body ends with a statement, the
value ``df`` has by then::

    %%stream fast --input telemetry
    df.filter(pl.col("speed") > 300)

becomes::

    def fast(df: pl.DataFrame) -> pl.DataFrame:
        return df.filter(pl.col("speed") > 300)

A Quix step's body works on ``sdf`` and the function returns ``sdf``.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from typing import Any, Literal

from .._errors import KitError

__all__ = ["CellStep", "ChainError", "step_function_ast", "step_function_source"]

StepKind = Literal["polars", "quix"]


class ChainError(KitError):
    """A chain cannot be run or exported as written; the message names the cell."""


@dataclass
class CellStep:
    """One ``%%stream`` cell."""

    name: str
    kind: StepKind
    input: str
    output: str | None
    source: str
    cell_line: str = ""  # the magic line, for comments and errors

    @property
    def argument(self) -> str:
        return "sdf" if self.kind == "quix" else "df"

    def body_ast(self) -> list[ast.stmt]:
        """The body with its last expression turned into ``return``."""
        try:
            module = ast.parse(
                self.source or "pass", filename=f"<%%stream {self.name}>"
            )
        except SyntaxError as exc:
            raise ChainError(
                f"Cell {self.name!r} has a syntax error on line {exc.lineno}: {exc.msg}."
            ) from None
        body = list(module.body)
        arg = self.argument
        if self.kind == "polars" and body and isinstance(body[-1], ast.Expr):
            last = body[-1]
            body[-1] = ast.copy_location(ast.Return(value=last.value), last)
        else:
            end = body[-1] if body else None
            ret = ast.Return(value=ast.Name(id=arg, ctx=ast.Load()))
            if end is not None:
                ret.lineno = ret.end_lineno = end.end_lineno or end.lineno
                ret.col_offset = ret.end_col_offset = 0
            body.append(ret)
        return body


def step_function_ast(step: CellStep) -> ast.Module:
    """A module defining the step's function, with the cell's line numbers
    (so tracebacks point at lines of the cell)."""
    func = ast.FunctionDef(
        name=_identifier(step.name),
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg(arg=step.argument)],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=step.body_ast(),
        decorator_list=[],
        returns=None,
    )
    if hasattr(ast, "TypeVar"):  # Python 3.12+ requires the field
        func.type_params = []  # type: ignore[attr-defined,unused-ignore]
    func.lineno, func.col_offset = 1, 0
    module = ast.Module(body=[func], type_ignores=[])
    return ast.fix_missing_locations(module)


def step_function_source(step: CellStep) -> str:
    """Readable source of the step's function (for exported ``steps.py``)."""
    body = step.body_ast()
    lines = step.source.rstrip().splitlines() or ["pass"]
    last = body[-1]
    if (
        isinstance(last, ast.Return)
        and step.kind == "polars"
        and _ends_with_expression(step)
    ):
        start = last.lineno - 1
        lines[start] = _prefix_return(lines[start])
        text = "\n".join(lines)
    else:
        text = "\n".join(lines) + f"\nreturn {step.argument}"
    annotation = (
        "(df: pl.DataFrame) -> pl.DataFrame"
        if step.kind == "polars"
        else "(sdf: Any) -> Any"
    )
    header = f"def {_identifier(step.name)}{annotation}:\n"
    doc = f'    """{step.cell_line or "%%stream " + step.name}"""\n'
    return header + doc + textwrap.indent(text, "    ") + "\n"


def _ends_with_expression(step: CellStep) -> bool:
    module = ast.parse(step.source or "pass")
    return bool(module.body) and isinstance(module.body[-1], ast.Expr)


def _prefix_return(line: str) -> str:
    stripped = line.lstrip()
    return line[: len(line) - len(stripped)] + "return " + stripped


def _identifier(name: str) -> str:
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return ident if ident and not ident[0].isdigit() else f"step_{ident}"


def names_used(source: str) -> set[str]:
    """Names a piece of code reads (globals it needs).

    >>> sorted(names_used("y = np.sqrt(x) + len(z)"))
    ['len', 'np', 'x', 'z']
    """
    tree = ast.parse(source or "pass")
    loads = {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return loads - names_defined(tree)


def names_defined(tree: Any) -> set[str]:
    """Names bound at any level of ``tree`` (assignments, defs, imports, args)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                out.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out
