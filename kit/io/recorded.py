"""Recorded data for a replay: files read into frames (JSON Lines, CSV,
Parquet, gzipped), record times from a time column, and the nested shape
records are written in."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import KitError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["load_frame", "nested_shape", "time_unit", "times_ms"]

#: Column names taken as the record time when ``timestamp`` is not given.
TIME_COLUMNS = ("_timestamp", "timestamp", "ts", "time", "datetime", "date")
SUFFIXES = (
    ".jsonl",
    ".ndjson",
    ".json",
    ".csv",
    ".parquet",
    ".jsonl.gz",
    ".ndjson.gz",
    ".csv.gz",
)


def nested_shape(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The nested schema of a flat frame's columns: ``sensors.temp_c`` is the
    field ``temp_c`` of the object ``sensors`` (the way :func:`kit.read`
    flattens); ``_`` columns are left out.

    >>> import polars as pl
    >>> nested_shape({"car": pl.String, "sensors.temp_c": pl.Float64, "_key": pl.String})
    {'car': String, 'sensors': Struct({'temp_c': Float64})}
    """
    import polars as pl

    tree: dict[str, Any] = {}
    for column, dtype in schema.items():
        if column.startswith("_"):
            continue
        *parents, leaf = column.split(".")
        node = tree
        for key in parents:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):  # "a" and "a.b" both: keep it flat
                node, leaf = tree, column
                break
            node = child
        node.setdefault(leaf, dtype)

    def build(node: dict[str, Any]) -> dict[str, Any]:
        return {
            k: pl.Struct(build(v)) if isinstance(v, dict) else v
            for k, v in node.items()
        }

    return build(tree)


def _bad_line(raw: bytes, error: Exception) -> str:
    """Which line of a JSON Lines file is not a JSON object, and why."""
    import json

    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            return (
                f"line {number} is not JSON ({exc}): {line[:60]!r}. Each line must be "
                "one JSON object; fix or remove that line."
            )
        if not isinstance(value, dict):
            return (
                f"line {number} is not a JSON object but {type(value).__name__}: "
                f"{line[:60]!r}. Each line must be one JSON object; fix or remove it."
            )
    return f"it is not JSON Lines Polars can read ({error})."


def load_frame(source: str | Path) -> pl.DataFrame:
    """Read JSON Lines, CSV or Parquet (optionally gzipped) into a frame."""
    import polars as pl

    path = Path(source)
    name = path.name.lower()
    if not path.exists():
        raise KitError(f"No file at {str(path)!r} to replay.")
    data: Any = path
    if name.endswith(".gz"):
        data = gzip.decompress(path.read_bytes())
        name = name[:-3]
    if name.endswith((".jsonl", ".ndjson", ".json")):
        raw = data if isinstance(data, bytes) else path.read_bytes()
        try:
            if name.endswith(".json") and raw.lstrip().startswith(b"["):
                return pl.read_json(raw, infer_schema_length=None)
            return pl.read_ndjson(raw, infer_schema_length=None)
        except pl.exceptions.PolarsError as exc:
            raise KitError(
                f"Cannot replay {str(path)!r}: {_bad_line(raw, exc)}"
            ) from None
    if name.endswith(".csv"):
        return pl.read_csv(data, try_parse_dates=True)
    if name.endswith(".parquet"):
        return pl.read_parquet(data)
    raise KitError(
        f"Cannot replay {path.name!r}: use one of {', '.join(SUFFIXES)}, or a Polars DataFrame."
    )


#: Times before this (1973-03-03) are relative, not epoch times.
RELATIVE_BEFORE_MS = 100_000_000_000

#: Time units of numeric time columns, in milliseconds.
UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
UNIT_NAMES = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
}


def time_unit(column: str, values: pl.Series) -> str:
    """The unit of a numeric time column: from its name's suffix (``_s``,
    ``_sec``, ``_ms``, ``_us``, ``_ns``), else from its size as an epoch time
    (over 1e17: ns, 1e14: us, 1e11: ms, else s).

    >>> import polars as pl
    >>> time_unit("session_ms", pl.Series([0, 7_000_000]))
    'ms'
    >>> time_unit("t", pl.Series([1_700_000_000_123]))
    'ms'
    >>> time_unit("t", pl.Series([12.5, 60.0]))
    's'
    """
    name = column.lower()
    for suffix, unit in (
        ("_ms", "ms"),
        ("_us", "us"),
        ("_ns", "ns"),
        ("_sec", "s"),
        ("_s", "s"),
    ):
        if name.endswith(suffix):
            return unit
    top = abs(float(values.cast(float).max() or 0))
    return "ns" if top > 1e17 else "us" if top > 1e14 else "ms" if top > 1e11 else "s"


def times_ms(
    frame: pl.DataFrame, column: str, unit: str | None = None
) -> tuple[list[int], str | None]:
    """The column as milliseconds, and the unit a numeric column was read in."""
    import polars as pl

    series = frame[column]
    if series.dtype == pl.String:
        series = series.str.to_datetime(strict=False, time_zone="UTC")
        if series.null_count() == frame.height:
            raise KitError(f"Column {column!r} holds no readable times.")
    if series.dtype == pl.Date:
        series = series.cast(pl.Datetime("ms"))
    if isinstance(series.dtype, pl.Datetime):
        millis = series.dt.epoch("ms")
    elif series.dtype.is_numeric():
        unit = unit or time_unit(column, series)
        millis = (series.cast(pl.Float64) * UNITS[unit]).cast(pl.Int64)
    else:
        raise KitError(f"Column {column!r} ({series.dtype}) is not a time.")
    out: list[int] = millis.fill_null(strategy="forward").fill_null(0).to_list()
    return out, unit if series.dtype.is_numeric() else None
