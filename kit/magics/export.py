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
    from ..ops.exporting import export as export_service

    args = parse_argstring(export, line)
    done = export_service(
        args.outdir, name=args.name, steps=args.chain, rows=magics.prototype_rows,
        replicas=args.replicas, pipeline=args.pipeline,
    )  # fmt: skip
    print(done.message())
