"""%stream export OUTDIR [--name NAME] [--chain STEP ...] [--replicas N] [--pipeline]"""

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
@argument("--replicas", type=int, default=1, help="replica count for quix.yaml")
@argument(
    "--pipeline", action="store_true", help="also write a quix.yaml pipeline entry"
)
def export(line: str) -> None:
    """Export the chain as a deployable Quix Streams service, with a parity test."""


def run(magics: Any, line: str) -> None:
    from pathlib import Path

    from .. import _session
    from .._parity import record_samples
    from ..chain.capture import kernel_chain
    from ..export import export_chain

    args = parse_argstring(export, line)
    out = Path(args.outdir)
    connection = _session.current()
    topics = [t.name for t in connection.topics()]
    name = args.name or out.resolve().name
    chain = kernel_chain()
    ordered = chain.ordered(args.chain)
    chain.validate(ordered, topics=topics)
    samples = record_samples(
        chain, ordered, connection=connection, rows=magics.prototype_rows
    )
    export_chain(
        chain, out, name=name, steps=args.chain, source="a notebook", topics=topics,
        samples=samples, replicas=args.replicas, pipeline=args.pipeline,
    )  # fmt: skip
    print(
        f"Exported service {name!r} to {out}/ (main.py, steps.py, requirements.txt, "
        "dockerfile, app.yaml, test_service.py)."
    )
