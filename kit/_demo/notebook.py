"""The notebook ``kit demo`` opens, and its headless run.

Where the quickstart comes from: in a clone (an editable install) it is the
clone's ``notebooks/quickstart.ipynb``, opened in place. An installed kit has
no ``notebooks/`` folder beside it; a wheel may ship the notebooks as
``kit/notebooks/`` (see ``find_notebook``), and that copy is copied into a
working folder (``./kit-demo`` or ``--dir``) so edits and outputs are yours.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .._errors import KitError
from .lab import curve_available, finish, kernel_tree

__all__ = ["QUICKSTART", "find_notebook", "quickstart_source", "run_headless"]

QUICKSTART = "quickstart.ipynb"
#: Where headless results go, and the quickstart is copied to, by default.
WORKDIR = "kit-demo"

Echo = Callable[[str], None]
_PACKAGE = Path(__file__).resolve().parents[1]  # the kit package


def quickstart_source(package: Path | None = None) -> Path | None:
    """The quickstart next to the package: a clone's ``notebooks/`` folder, or
    ``kit/notebooks/`` when the wheel ships it; None if neither exists."""
    package = package or _PACKAGE
    for candidate in (
        package.parent / "notebooks" / QUICKSTART,
        package / "notebooks" / QUICKSTART,
    ):
        if candidate.is_file():
            return candidate
    return None


def _in_clone(source: Path) -> bool:
    """Whether ``source`` is a clone's ``notebooks/`` file (not a shipped copy)."""
    root = source.parent.parent
    return source.parent.name == "notebooks" and (root / "pyproject.toml").is_file()


def missing_notebook(notebook: str | None) -> str:
    if notebook:
        return f"No notebook at {notebook!r}; give the path of an .ipynb file."
    return (
        f"The quickstart notebook is not in this installation of kit "
        f"({_PACKAGE}); run `kit demo` from a clone of "
        "jupyter-streamkit (`pip install -e .`), or pass --notebook PATH."
    )


def find_notebook(
    *,
    notebook: str | None = None,
    workdir: str | None = None,
    package: Path | None = None,
    echo: Echo = print,
) -> tuple[Path, Path]:
    """``(root, notebook)``: JupyterLab's root folder and the notebook to open.

    ``notebook`` is opened where it is. Otherwise, in a clone (an editable
    install) without ``workdir``: the clone's ``notebooks/quickstart.ipynb``,
    with the clone as root. Else the quickstart is copied into ``workdir``
    (default ``./kit-demo``) unless a copy is already there (kept: it may
    hold your edits), and that folder is the root.
    """
    if notebook:
        path = Path(notebook).resolve()
        if not path.is_file():
            raise KitError(missing_notebook(notebook))
        echo(f"notebook    {path}")
        return path.parent, path
    source = quickstart_source(package)
    if source is None:
        raise KitError(missing_notebook(None))
    if workdir is None and _in_clone(source):
        echo(f"notebook    {source}")
        return source.parent.parent, source
    root = Path(workdir or WORKDIR).resolve()
    target = root / QUICKSTART
    if target.exists():
        echo(f"notebook    {target} (your copy; delete it for a fresh one)")
    else:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        echo(f"notebook    {target} (copied from {source})")
    return root, target


def _kernel_manager() -> dict[str, object]:
    """papermill's kernel manager with encrypted kernel connections, where
    pyzmq can (and ipykernel does not warn that it runs without)."""
    from jupyter_client.manager import AsyncKernelManager

    if not curve_available():
        return {}

    class EncryptedKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.transport_encryption = "auto"

    return {"kernel_manager_class": EncryptedKernelManager}


def run_headless(
    notebook: Path,
    outdir: Path,
    *,
    env: dict[str, str] | None = None,
    echo: Echo = print,
) -> tuple[Path, Path]:
    """Execute ``notebook`` with papermill in ``outdir``; write an HTML report.

    Returns ``(executed notebook, report)``. The kernel runs with
    ``KIT_HEADLESS=1`` (and ``env``): its live views and producers are
    bounded and leave static outputs. (papermill runs in this process, so the
    kit in the kernel could not tell from the kernel's parent.)
    """
    import nbformat
    import papermill  # type: ignore[import-untyped]
    from nbconvert import HTMLExporter

    outdir.mkdir(parents=True, exist_ok=True)
    executed = outdir / f"{notebook.stem}.executed.ipynb"
    report = outdir / f"{notebook.stem}.html"
    echo(f"headless    running {notebook} with papermill in {outdir}")
    started = time.monotonic()
    failure: papermill.PapermillExecutionError | None = None
    overrides = {**(env or {}), "KIT_HEADLESS": "1"}
    before = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        papermill.execute_notebook(
            str(notebook), str(executed), cwd=str(outdir),
            progress_bar=False, execution_timeout=600, **_kernel_manager(),
        )  # fmt: skip
    except papermill.PapermillExecutionError as exc:
        failure = exc
    except Exception as exc:  # no kernel, a kernel that died...: one clear line
        raise KitError(f"papermill could not run {notebook}: {exc}") from exc
    finally:
        # papermill shuts its kernel down, unless it was interrupted first.
        finish(kernel_tree(os.getpid()), grace=0.0)
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    executed_nb = nbformat.read(executed, as_version=4)  # type: ignore[no-untyped-call]
    body, _ = HTMLExporter().from_notebook_node(executed_nb)  # type: ignore[no-untyped-call]
    report.write_text(body, encoding="utf-8")
    if failure is not None:
        raise KitError(
            f"The notebook failed in cell [{failure.exec_count}]: {failure.ename}: "
            f"{failure.evalue}; see {executed} or {report}."
        )
    echo(f"headless    done in {time.monotonic() - started:.0f} s")
    return executed, report
