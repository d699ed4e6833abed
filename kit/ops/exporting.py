"""Export a chain as a service: once, for ``%stream export``, ``kit export``,
the Streams panel's Export command and :func:`kit.export`.

The chain is the kernel's (``%%stream`` cells run so far) or a saved
notebook's. Where a broker is at hand (the given connection, the current
one, ``KIT_BROKER``, the address the notebook connects to, or an embedded
broker already running) its inputs are checked against its topics and a
sample of them is recorded with a parity test; an export never starts a
broker itself, and without one it writes the service without a sample and
says how to add it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["Exported", "export", "notebook_address"]


@dataclass
class Exported:
    """What :func:`export` wrote.

    Attributes:
        name: the service's name.
        folder: where it was written.
        files: the folder's files and directories.
        parity: whether it holds a recorded sample and its parity test.
        note: why there is no parity test, and how to get one.
    """

    name: str
    folder: Path
    files: list[str] = field(default_factory=list)
    parity: bool = False
    note: str | None = None

    def message(self) -> str:
        """What to tell the user.

        >>> Exported("fast", Path("svc"), ["main.py"], True).message()
        "Exported service 'fast' to svc/ (main.py), with its parity test (pytest svc/test_service.py)."
        """
        text = f"Exported service {self.name!r} to {self.folder}/ ({', '.join(self.files)})"
        if self.parity:
            return (
                text + f", with its parity test (pytest {self.folder}/test_service.py)."
            )
        return text + "." + (f"\n{self.note}" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "folder": str(self.folder), "files": self.files,
            "parity": self.parity, "note": self.note,
        }  # fmt: skip


def export(
    outdir: str | os.PathLike[str],
    *,
    notebook: str | os.PathLike[str] | None = None,
    name: str | None = None,
    steps: list[str] | None = None,
    parity: bool = True,
    rows: int = 1000,
    replicas: int = 1,
    pipeline: bool = False,
    connection: Connection | None = None,
) -> Exported:
    """Write the chain (the kernel's, or ``notebook``'s) as a deployable
    Quix Streams service in ``outdir``: main.py, steps.py, requirements.txt,
    dockerfile, app.yaml, and with ``parity`` a sample of ``rows`` records of
    each input and ``test_service.py`` (the service gives what the prototypes
    gave on it).

    Args:
        notebook: a saved notebook to read the chain from (nothing in it is
            run, except the prototypes on the sample).
        name: the service's name (default: the folder's).
        steps: only these steps (and the steps they read from).
        connection: the broker of the sample (default: see the module
            docstring; never a new embedded broker).

    Raises:
        ChainError: the chain would not run outside the notebook (a name
            only the kernel defines, a secret in code, an input that is no
            topic), with the cell to change.

    >>> import kit
    >>> kit.export("svc", notebook="nowhere.ipynb")  # doctest: +SKIP
    """
    from .._export import export_chain
    from .._parity import record_samples
    from ..chain.capture import chain_from_notebook, kernel_chain

    out = Path(outdir)
    chain = chain_from_notebook(Path(notebook)) if notebook else kernel_chain()
    service = name or out.resolve().name
    ordered = chain.ordered(steps)
    chain.validate(ordered)  # what only the kernel defines: before any broker
    samples = None
    note = None
    if parity:
        conn, note = (connection, None) if connection else _broker_at_hand(notebook)
        if conn is not None:
            chain.validate(
                ordered,
                topics=[t.name for t in conn.topics()],
                where=f" on {conn.address}, where the parity sample is read (or "
                "export without one: --no-parity, parity=False)",
            )
            samples = record_samples(chain, ordered, connection=conn, rows=rows)
        elif note is None:
            note = (
                "No parity test: no broker to read a sample from (no connection, "
                "KIT_BROKER unset, no embedded broker running). Start one (`kit "
                "broker start`, then replay data into the inputs) or pass --broker, "
                "and export again."
            )
    source = Path(notebook).name if notebook else "a notebook"
    export_chain(
        chain, out, name=service, steps=steps, source=source, samples=samples, replicas=replicas, pipeline=pipeline,
    )  # fmt: skip
    files = sorted(p.name for p in out.iterdir())
    return Exported(service, out, files, samples is not None, note)


def _broker_at_hand(
    notebook: str | os.PathLike[str] | None,
) -> tuple[Connection | None, str | None]:
    """The connection an export reads its sample with, if any is at hand;
    else why not (the notebook's own broker may be down: then the service is
    written without a sample, as with no broker at all)."""
    from .. import _broker, _session
    from .._errors import BrokerUnreachable
    from ..connection import connect

    current = _session.peek()
    if current is not None:
        return current, None
    address = os.environ.get("KIT_BROKER")
    if address or os.environ.get("Quix__Sdk__Token"):  # noqa: SIM112 (Quix's name)
        return connect(address), None  # asked for: unreachable is an error
    address = notebook_address(notebook) if notebook else None
    if address:
        try:
            return connect(address), None
        except BrokerUnreachable:
            return None, (
                f"No parity test: the broker the notebook connects to ({address}) "
                "did not answer. Start it (and replay data into the inputs), or "
                "pass --broker ADDRESS, and export again."
            )
    info = _broker.running()
    return (connect(info.address) if info is not None else None), None


_MAGIC = re.compile(r"^\s*%stream\s+connect\s+([^\s-][^\s]*)", re.MULTILINE)
_CALL = re.compile(r"""\bkit\.connect\(\s*["']([^"'{}]+)["']""")


def notebook_address(path: str | os.PathLike[str]) -> str | None:
    """The broker address a notebook connects to (``%stream connect ADDR``
    or ``kit.connect("ADDR")`` in a code cell), if it names one.

    >>> import tempfile
    >>> nb = {"cells": [{"cell_type": "code", "source": "%stream connect 10.0.0.5:9092"}]}
    >>> with tempfile.NamedTemporaryFile("w", suffix=".ipynb", delete=False) as f:
    ...     json.dump(nb, f)
    >>> notebook_address(f.name)
    '10.0.0.5:9092'
    """
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return None
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        found = _MAGIC.search(source) or _CALL.search(source)
        if found and "{" not in found.group(1):
            return found.group(1)
    return None
