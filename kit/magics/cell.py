"""``%%stream NAME --input TOPIC|STEP [--output TOPIC] [--quix]`` and
``%%stream helpers [NAME]``: capture a step (or helper cell) and run its
instant prototype."""

from __future__ import annotations

from typing import Any

from IPython.core.display import HTML
from IPython.display import display

from ..chain.capture import kernel_chain, parse_cell_line
from ..chain.step import CellStep, ChainError

__all__ = ["run_cell"]


def run_cell(magics: Any, line: str, cell: str) -> Any:
    from .. import _session
    from ..chain.prototype import namespace, run_prototype

    chain = kernel_chain()
    words = line.split()
    if not words:
        raise ChainError(
            "%%stream needs a step name: `%%stream NAME --input TOPIC` (or "
            "`%%stream helpers` for helper functions)."
        )
    history = magics.shell.user_ns.get("In", [])
    chain.add_imports_from(
        h
        for h in history
        if not h.lstrip().startswith("get_ipython().run_cell_magic('stream'")
    )
    if words[0] == "helpers":
        name = words[1] if len(words) > 1 else "helpers"
        chain.add_helpers(name, cell)
        namespace(chain, [])  # runs them now: errors show at once
        print(f"Captured helper cell {name!r} for the chain.")
        return None
    args = parse_cell_line(line)
    if args["input"] is None:
        raise ChainError(f"Step {args['name']!r} needs --input TOPIC or --input STEP.")
    step = CellStep(
        name=args["name"],
        kind="quix" if args["quix"] else "polars",
        input=args["input"],
        output=args["output"],
        source=cell,
        cell_line=f"%%stream {line.strip()}",
    )
    chain.add_step(step)
    magics.prototypes.pop(step.name, None)
    for other in chain.steps.values():  # downstream prototypes are stale now
        if other.input == step.name:
            magics.prototypes.pop(other.name, None)
    connection = _session.current()
    prototype = run_prototype(
        chain,
        step,
        connection=connection,
        rows=magics.prototype_rows,
        cache=magics.prototypes,
    )
    display(HTML(f"<div style='font-family:var(--jp-code-font-family,monospace);font-size:12px'>"
                 f"{_escape(prototype.summary())}</div>"))  # fmt: skip
    from ..ops.live import restart_if_live

    restart_if_live(step.name)
    return prototype.output


def _escape(text: str) -> str:
    import html

    return html.escape(text)
