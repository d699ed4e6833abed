"""The per-user state directory (embedded broker record, logs, probes).

``KIT_STATE_DIR`` overrides the platform default
(``~/.local/state/jupyter-streamkit`` on Linux); tests point it at a
temporary folder so they never touch a user's broker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["locked", "read_json", "state_dir", "write_json"]


def state_dir() -> Path:
    """The state directory, created on first use."""
    override = os.environ.get("KIT_STATE_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_state_dir

        path = Path(user_state_dir("jupyter-streamkit"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_json(name: str) -> dict[str, Any] | None:
    """The JSON record ``name`` in the state directory, or ``None``."""
    path = state_dir() / name
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_json(name: str, data: dict[str, Any] | None) -> None:
    """Write (or with ``None`` remove) the JSON record ``name`` atomically."""
    path = state_dir() / name
    if data is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` (across processes)."""
    with open(state_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
