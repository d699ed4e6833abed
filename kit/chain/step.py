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


#: Lines of a step's function before the cell's first line: ``def`` and docstring.
HEADER_LINES = 2


def step_function_source(step: CellStep) -> str:
    '''The step's function: the one piece of code prototypes, live runs and
    exported services all run (``steps.py`` holds it as it is).

    The cell's lines stay as written, indented (except inside multi-line
    strings, whose text must not change); ``return`` goes in front of the
    last statement when it is an expression (a Polars step), wherever it
    starts (after a semicolon, over several lines), else ``return df``
    (``return sdf``) ends the body.

    >>> step = CellStep("s", "polars", "t", None, 'n = 2; df.head(n)  # first rows')
    >>> print(step_function_source(step))
    def s(df: pl.DataFrame) -> pl.DataFrame:
        """%%stream s"""
        n = 2; return df.head(n)  # first rows
    <BLANKLINE>
    '''
    body = step.body_ast()  # also: a syntax error becomes a ChainError
    lines = (step.source or "pass").splitlines() or ["pass"]
    last = body[-1]
    if step.kind == "polars" and _ends_with_expression(step):
        row, col = last.lineno - 1, last.col_offset  # col: in UTF-8 bytes
        raw = lines[row].encode()
        lines[row] = (raw[:col] + b"return " + raw[col:]).decode()
        tail: list[str] = []
    else:
        tail = [f"return {step.argument}"]
    annotation = (
        "(df: pl.DataFrame) -> pl.DataFrame"
        if step.kind == "polars"
        else "(sdf: Any) -> Any"
    )
    header = f"def {_identifier(step.name)}{annotation}:\n"
    doc = f'    """{step.cell_line or "%%stream " + step.name}"""\n'
    inside = _string_continuations(step.source or "pass")
    indented = [
        line if (i + 1) in inside or not line.strip() else "    " + line
        for i, line in enumerate(lines)
    ]
    return header + doc + "\n".join(indented + ["    " + t for t in tail]) + "\n"


def step_function_ast(step: CellStep) -> ast.Module:
    """:func:`step_function_source` parsed, with the body on the cell's line
    numbers (so tracebacks and errors point at lines of the cell)."""
    module = ast.parse(step_function_source(step), filename=f"<%%stream {step.name}>")
    func = module.body[0]
    assert isinstance(func, ast.FunctionDef)
    for node in func.body[1:]:  # after the docstring
        ast.increment_lineno(node, -HEADER_LINES)
    return module


def _string_continuations(source: str) -> set[int]:
    """Line numbers (1-based) inside a multi-line string, after its first.

    >>> sorted(_string_continuations("x = '''a\\nb\\nc'''\\ny = 1"))
    [2, 3]
    """
    import io
    import tokenize

    inside: set[int] = set()
    fstring_start = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    opened: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
            elif token.type == fstring_start:
                opened.append(token.start[0])
            elif token.type == fstring_end and opened:
                inside.update(range(opened.pop() + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return inside


def _ends_with_expression(step: CellStep) -> bool:
    module = ast.parse(step.source or "pass")
    return bool(module.body) and isinstance(module.body[-1], ast.Expr)


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
