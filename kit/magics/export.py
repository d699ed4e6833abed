"""%stream export OUTDIR [--name NAME] [--chain STEP ...]"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring


@magic_arguments()
@argument("outdir")
@argument("--name", default=None, help="service name (default: the folder's name)")
@argument(
    "--chain",
    nargs="+",
    default=None,
    help="export only these steps (and their inputs)",
)
def export(line: str) -> None:
    """Export the chain as a deployable Quix Streams service."""


def run(magics: Any, line: str) -> None:
    from pathlib import Path

    from .. import _session
    from ..chain.capture import kernel_chain
    from ..export import export_chain

    args = parse_argstring(export, line)
    out = Path(args.outdir)
    topics = [t.name for t in _session.current().topics()]
    name = args.name or out.resolve().name
    export_chain(
        kernel_chain(),
        out,
        name=name,
        steps=args.chain,
        source="a notebook",
        topics=topics,
    )
    print(
        f"Exported service {name!r} to {out}/ (main.py, steps.py, requirements.txt, dockerfile, app.yaml)."
    )
