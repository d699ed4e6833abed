"""The chain of a notebook: steps, helper cells and the imports they use.

In a kernel, ``%%stream`` cells register here (re-running a cell replaces its
step); from a saved notebook, :func:`chain_from_notebook` reads the same
cells. Import lines of ordinary cells are captured when the chain uses a name
they bind, so ``import numpy as np`` at the top of a notebook is enough.
"""

from __future__ import annotations

import ast
import builtins
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .step import CellStep, ChainError, names_defined, names_used

__all__ = ["Chain", "chain_from_notebook", "kernel_chain", "parse_cell_line"]

#: Names every step may use without capturing them.
PROVIDED = {"pl", "df", "sdf", "Any"}

_SECRET = re.compile(
    r"""(?ix)
    (password|passwd|secret|token|api[_-]?key|sasl[._]password|access[_-]?key)
    \s*[=:]\s*["'][^"']{4,}["']
    """
)


@dataclass
class Chain:
    """Steps (in definition order), helper cells, captured import lines."""

    steps: dict[str, CellStep] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # bound name -> import line

    # building -----------------------------------------------------------------
    def add_step(self, step: CellStep) -> None:
        if step.name == "helpers":
            raise ChainError("'helpers' names helper cells; choose another step name.")
        self.steps.pop(step.name, None)  # re-defined steps move to the end
        self.steps[step.name] = step

    def add_helpers(self, name: str, source: str) -> None:
        try:
            ast.parse(source)
        except SyntaxError as exc:
            raise ChainError(
                f"Helper cell {name!r} has a syntax error on line {exc.lineno}: {exc.msg}."
            ) from None
        self.helpers[name] = source

    def add_imports_from(self, sources: Iterable[str]) -> None:
        """Remember the top-level import lines of these cells."""
        for source in sources:
            for name, line in import_lines(source).items():
                self.imports[name] = line

    # reading -------------------------------------------------------------------
    def topic_of(self, name_or_topic: str) -> str:
        """The topic a step's ``--input`` means (a step's output, or a topic)."""
        step = self.steps.get(name_or_topic)
        return self.output_topic(step) if step else name_or_topic

    @staticmethod
    def output_topic(step: CellStep) -> str:
        return step.output or step.name

    def ordered(self, names: Iterable[str] | None = None) -> list[CellStep]:
        """Steps in dependency order (upstream first), optionally only ``names``
        and what they depend on."""
        wanted = list(self.steps) if names is None else list(names)
        for name in wanted:
            if name not in self.steps:
                raise ChainError(
                    f"No step named {name!r}; steps: {', '.join(self.steps) or '(none)'}."
                )
        out: list[CellStep] = []
        seen: set[str] = set()

        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in seen:
                return
            if name in trail:
                raise ChainError(f"Steps form a cycle: {' -> '.join((*trail, name))}.")
            step = self.steps[name]
            if step.input in self.steps:
                visit(step.input, (*trail, name))
            seen.add(name)
            out.append(step)

        for name in wanted:
            visit(name, ())
        return out

    def helper_source(self) -> str:
        return "\n\n".join(self.helpers.values())

    def needed_imports(self, steps: Iterable[CellStep]) -> list[str]:
        """Import lines for the names the steps and helpers use."""
        code = [s.source for s in steps] + list(self.helpers.values())
        used = set().union(*(names_used(c) for c in code)) if code else set()
        lines = []
        for name in sorted(used - {"pl"}):  # steps always have polars as pl
            line = self.imports.get(name)
            if line and line not in lines:
                lines.append(line)
        return lines

    def validate(
        self,
        steps: Iterable[CellStep],
        *,
        topics: Iterable[str] | None = None,
        where: str = "",
    ) -> None:
        """Refuse what would not run the same outside this kernel.

        * a name a step uses that no helper cell, captured import or builtin
          defines (hidden kernel state);
        * something that looks like a secret in step or helper code;
        * an input that is neither a step nor (when ``topics`` is given) an
          existing topic (``where`` says where they were looked up).
        """
        steps = list(steps)
        helper_defs = names_defined(ast.parse(self.helper_source() or "pass"))
        known = PROVIDED | helper_defs | set(self.imports) | set(dir(builtins))
        for name, source in [
            *((s.name, s.source) for s in steps),
            *self.helpers.items(),
        ]:
            match = _SECRET.search(source)
            if match:
                raise ChainError(
                    f"Cell {name!r} holds what looks like a secret ({match.group(1)} = "
                    "'...'); read it from an environment variable instead "
                    "(os.environ[...]) so it never lands in exported code."
                )
        for step in steps:
            missing = sorted(names_used(step.source) - known)
            if missing:
                raise ChainError(
                    f"Step {step.name!r} uses {', '.join(missing)}, defined in no captured "
                    "cell: put it in a `%%stream helpers` cell (or import it in an "
                    "ordinary cell) so the chain does not depend on hidden kernel state."
                )
        for name in self.helpers:
            missing = sorted(names_used(self.helpers[name]) - known)
            if missing:
                raise ChainError(
                    f"Helper cell {name!r} uses {', '.join(missing)}, defined in no "
                    "captured cell: import or define it in a helpers cell."
                )
        existing = None if topics is None else set(topics)
        for step in steps:
            if step.input in self.steps:
                continue
            if existing is not None and step.input not in existing:
                raise ChainError(
                    f"Step {step.name!r} reads {step.input!r}, which is neither a step "
                    f"nor an existing topic{where}; check --input."
                )


def import_lines(source: str) -> dict[str, str]:
    """Top-level import statements of a cell: bound name -> the statement.

    >>> import_lines("import polars as pl\\nfrom math import sqrt, pi\\nx = 1")
    {'pl': 'import polars as pl', 'sqrt': 'from math import sqrt, pi', 'pi': 'from math import sqrt, pi'}
    """
    text = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            line = ast.get_source_segment(text, node) or ast.unparse(node)
            for alias in node.names:
                if alias.name == "*":
                    continue
                out[(alias.asname or alias.name).split(".")[0]] = line
    return out


def parse_cell_line(line: str) -> dict[str, Any]:
    """Parse ``NAME --input X [--output Y] [--quix]`` of a ``%%stream`` cell.

    >>> parse_cell_line("fast --input telemetry --output fast-laps")
    {'name': 'fast', 'input': 'telemetry', 'output': 'fast-laps', 'quix': False}
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="%%stream", add_help=False, exit_on_error=False
    )
    parser.add_argument("name")
    parser.add_argument("--input", default=None)
    parser.add_argument("--output", default=None)
    parser.add_argument("--quix", action="store_true")
    try:
        args, extra = parser.parse_known_args(shlex.split(line))
    except (argparse.ArgumentError, ValueError) as exc:
        raise ChainError(f"%%stream {line}: {exc}") from None
    if extra:
        raise ChainError(f"%%stream {line}: unknown arguments {' '.join(extra)}.")
    return vars(args)


def notebook_parameters(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Literal values of a notebook's parameter cells (tagged ``parameters``,
    then papermill's ``injected-parameters``, which win).

    >>> cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
    ...           "source": ["topic = 'laps'\\n", "speed = 2.0  # x\\n", "n = len([])"]}]
    >>> notebook_parameters(cells)
    {'topic': 'laps', 'speed': 2.0}
    """
    import ast

    values: dict[str, Any] = {}
    for tag in ("parameters", "injected-parameters"):
        for cell in cells:
            if tag not in cell.get("metadata", {}).get("tags", []):
                continue
            try:
                tree = ast.parse("".join(cell.get("source", [])))
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name):
                        try:
                            values[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            continue
    return values


def _expand(line: str, parameters: dict[str, Any]) -> str:
    """``{name}`` in a magic line, as IPython expands it from the parameters.

    >>> _expand("laps --input {laps_topic} --quix", {"laps_topic": "f1-laps"})
    'laps --input f1-laps --quix'
    """
    import re

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise ChainError(
                f"%%stream {line}: {{{name}}} is not a parameter of the notebook "
                "(a literal assignment in its `parameters` cell), so the chain "
                "cannot be read from the file; give it a literal value."
            )
        return str(parameters[name])

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", value, line)


def chain_from_notebook(path: str | Path) -> Chain:
    """The chain of a saved notebook: its ``%%stream`` cells, helper cells
    (``%%stream helpers`` or tagged ``stream-helpers``) and import lines.
    ``{name}`` in a ``%%stream`` line takes the value of the notebook's
    parameter ``name`` (papermill's injected parameters win)."""
    import json

    data = json.loads(Path(path).read_text())
    chain = Chain()
    ordinary = []
    parameters = notebook_parameters(data.get("cells", []))
    for cell in data.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        tags = cell.get("metadata", {}).get("tags", [])
        first, _, body = source.partition("\n")
        if first.startswith("%%stream"):
            line = _expand(first[len("%%stream") :].strip(), parameters)
            if line.split()[:1] == ["helpers"]:
                chain.add_helpers(
                    line.split()[1] if len(line.split()) > 1 else "helpers", body
                )
                continue
            args = parse_cell_line(line)
            if args["input"] is None:
                raise ChainError(f"Cell {args['name']!r} needs --input TOPIC or STEP.")
            chain.add_step(
                CellStep(
                    name=args["name"],
                    kind="quix" if args["quix"] else "polars",
                    input=args["input"],
                    output=args["output"],
                    source=body,
                    cell_line=f"%%stream {line}",
                )
            )
        elif "stream-helpers" in tags:
            chain.add_helpers(f"cell {len(chain.helpers) + 1}", source)
        else:
            ordinary.append(source)
    chain.add_imports_from(ordinary)
    return chain


_KERNEL_CHAIN = Chain()


def kernel_chain() -> Chain:
    """The chain of this kernel's ``%%stream`` cells."""
    return _KERNEL_CHAIN
