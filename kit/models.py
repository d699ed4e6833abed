"""``kit.train_per_key``: one model per key group, into a versioned registry.

>>> reg = kit.train_per_key(df, key=["venue", "gear"], fit=fit_line,
...                         registry="models/rpm")          # doctest: +SKIP
>>> reg.version, len(reg)                                    # doctest: +SKIP
(1, 16)
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import KitError
from .runtime.models import Registry, key_slug

if TYPE_CHECKING:
    import polars as pl

__all__ = ["train_per_key"]


def train_per_key(
    frame: pl.DataFrame,
    *,
    key: str | Sequence[str],
    fit: Callable[[pl.DataFrame], Any],
    registry: str | Path,
    min_rows: int = 10,
    workers: int | None = None,
    progress: bool = True,
    time_column: str = "_timestamp",
) -> Registry:
    """Fit ``fit(rows)`` for each key group of ``frame`` and publish a new
    registry version.

    Args:
        key: the column(s) whose value combinations get a model each.
        fit: returns a picklable model, or ``(model, metrics_dict)``.
        registry: the registry directory (created if needed); each call
            writes ``v<N+1>/`` and then points ``LATEST`` at it, so readers
            never see a half-written version.
        min_rows: groups with fewer rows are skipped (listed in the manifest).
        workers: threads fitting in parallel (default: the CPU count);
            numpy and most model libraries release the GIL while fitting.
        time_column: recorded as the data window in the manifest.

    Returns:
        The new version, loaded.
    """
    keys = [key] if isinstance(key, str) else list(key)
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise KitError(
            f"key column(s) {', '.join(missing)} not in the frame; columns: "
            f"{', '.join(frame.columns)}."
        )
    root = Path(registry)
    root.mkdir(parents=True, exist_ok=True)
    version = _next_version(root)
    folder = root / f"v{version}"
    folder.mkdir()
    groups = [(tuple(k), rows) for k, rows in frame.group_by(keys, maintain_order=True)]
    skipped = [list(k) for k, rows in groups if rows.height < min_rows]
    todo = [(k, rows) for k, rows in groups if rows.height >= min_rows]
    if not todo:
        raise KitError(f"No key group has {min_rows} rows or more; nothing to train.")
    entries = _fit_all(
        todo, fit, folder, workers, progress, f"train {root.name} v{version}"
    )
    window: dict[str, Any] = {"rows": frame.height}
    if time_column in frame.columns and frame.height:
        window["from"] = str(frame[time_column].min())
        window["to"] = str(frame[time_column].max())
    manifest = {
        "version": version,
        "created": time.time(),
        "key": keys,
        "data_window": window,
        "models": sorted(entries, key=lambda e: [str(v) for v in e["key"]]),
        "skipped": skipped,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    latest = root / "LATEST"
    tmp = root / f".LATEST.{os.getpid()}"
    tmp.write_text(str(version))
    os.replace(tmp, latest)
    return Registry(root)


def _fit_all(
    todo: list[tuple[tuple[Any, ...], pl.DataFrame]],
    fit: Callable[[pl.DataFrame], Any],
    folder: Path,
    workers: int | None,
    progress: bool,
    desc: str,
) -> list[dict[str, Any]]:
    """Fit and save a model per group in threads; their manifest entries."""
    from tqdm.auto import tqdm

    entries: list[dict[str, Any]] = []
    failures: list[str] = []
    bar = tqdm(total=len(todo), desc=desc, unit="model", disable=not progress)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        futures = {pool.submit(_fit_one, fit, folder, *item): item[0] for item in todo}
        for future in as_completed(futures):
            try:
                entries.append(future.result())
            except Exception as exc:
                failures.append(f"{futures[future]}: {type(exc).__name__}: {exc}")
            bar.update(1)
    bar.close()
    if failures:
        raise KitError(f"{len(failures)} model(s) failed to fit; first: {failures[0]}")
    return entries


def _fit_one(
    fit: Callable[[pl.DataFrame], Any],
    folder: Path,
    group_key: tuple[Any, ...],
    rows: pl.DataFrame,
) -> dict[str, Any]:
    """Fit one group's model, pickle it into ``folder``; its manifest entry."""
    started = time.perf_counter()
    result = fit(rows)
    model, metrics = (
        result if isinstance(result, tuple) and len(result) == 2 else (result, {})
    )
    name = f"{key_slug(group_key)}.pkl"
    with open(folder / name, "wb") as handle:
        pickle.dump(model, handle)
    return {
        "key": list(group_key),
        "file": name,
        "rows": rows.height,
        "metrics": metrics,
        "seconds": round(time.perf_counter() - started, 4),
    }


def _next_version(root: Path) -> int:
    versions = [int(p.name[1:]) for p in root.glob("v*") if p.name[1:].isdigit()]
    return max(versions, default=0) + 1
