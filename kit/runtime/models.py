"""A versioned registry of per-key models, as services and notebooks read it.

Layout (written by :func:`kit.train_per_key`)::

    REGISTRY/
      LATEST              the current version number
      v3/manifest.json    version, key columns, data window, per-key files and metrics
      v3/<key>.pkl        one pickled model per key

:func:`registry` returns a cached :class:`Registry` that reloads itself when
``LATEST`` changes, so a running step picks up newly trained models without a
restart::

    %%stream scored --input telemetry
    models = registry(MODEL_DIR)
    models.score(df, predict=lambda model, rows: model(rows["speed"]))
"""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

__all__ = ["Registry", "key_slug", "registry"]

_CACHE: dict[str, Registry] = {}
_LOCK = threading.Lock()


def key_slug(values: tuple[Any, ...]) -> str:
    """A file name for a key.

    >>> key_slug(("baku", 7))
    'baku__7'
    """
    text = "__".join(str(v) for v in values)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"


class Registry:
    """The models of one registry directory, for the version in ``LATEST``."""

    def __init__(self, path: str | Path, *, check_every: float = 5.0) -> None:
        self.path = Path(path)
        self.check_every = check_every
        self.version: int | None = None
        self.manifest: dict[str, Any] = {}
        self._models: dict[tuple[Any, ...], Any] = {}
        self._checked = 0.0
        self.refresh(force=True)

    @property
    def key_columns(self) -> list[str]:
        return list(self.manifest.get("key", []))

    def refresh(self, *, force: bool = False) -> bool:
        """Reload if ``LATEST`` names a new version; True if it did."""
        now = time.monotonic()
        if not force and now - self._checked < self.check_every:
            return False
        self._checked = now
        try:
            latest = int((self.path / "LATEST").read_text().strip())
        except (OSError, ValueError):
            raise FileNotFoundError(
                f"No model registry at {self.path} (no LATEST file): train one with "
                "kit.train_per_key(..., registry=...)."
            ) from None
        if latest == self.version:
            return False
        folder = self.path / f"v{latest}"
        manifest = json.loads((folder / "manifest.json").read_text())
        models = {}
        for entry in manifest["models"]:
            with open(folder / entry["file"], "rb") as handle:
                models[tuple(entry["key"])] = pickle.load(handle)
        self.manifest, self._models, self.version = manifest, models, latest
        return True

    def model_for(self, key: tuple[Any, ...]) -> Any:
        """The model of ``key`` (a tuple of key column values), or None."""
        return self._models.get(tuple(key))

    def __len__(self) -> int:
        return len(self._models)

    def score(
        self,
        frame: pl.DataFrame,
        *,
        predict: Callable[[Any, pl.DataFrame], Any],
        output: str = "score",
    ) -> pl.DataFrame:
        """``frame`` with a column ``output``: ``predict(model, rows)`` per key
        group (null where no model exists for a key), plus ``model_version``."""
        import polars as pl

        self.refresh()
        keys = self.key_columns
        if frame.is_empty():
            return frame.with_columns(
                pl.lit(None, dtype=pl.Float64).alias(output),
                pl.lit(self.version, dtype=pl.Int64).alias("model_version"),
            )
        indexed = frame.with_row_index("__row")
        parts = []
        for key, rows in indexed.group_by(keys, maintain_order=True):
            model = self.model_for(tuple(key))
            if model is None:
                values = pl.Series(output, [None] * rows.height, dtype=pl.Float64)
            else:
                values = pl.Series(
                    output, predict(model, rows), dtype=pl.Float64, strict=False
                )
            parts.append(rows.select("__row").with_columns(values))
        scored = pl.concat(parts).sort("__row")
        return frame.with_columns(
            scored[output], pl.lit(self.version, dtype=pl.Int64).alias("model_version")
        )


def registry(path: str | Path, *, check_every: float = 5.0) -> Registry:
    """The registry at ``path``, loaded once per process and kept fresh."""
    resolved = str(Path(path).resolve())
    with _LOCK:
        found = _CACHE.get(resolved)
        if found is None:
            found = _CACHE[resolved] = Registry(resolved, check_every=check_every)
    return found
