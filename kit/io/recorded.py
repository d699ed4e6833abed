"""Recorded data for a replay: files read into frames (JSON Lines, CSV,
Parquet, gzipped), record times from a time column, and the nested shape
records are written in."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import KitError

if TYPE_CHECKING:
    import polars as pl

__all__ = ["load_frame", "load_records", "nested_shape", "time_unit", "times_ms"]

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


def _bad_line(raw: bytes) -> str | None:
    """Which line of a JSON Lines file is not a JSON object, and why (None:
    every line is one)."""
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
    return None


def load_frame(source: str | Path) -> pl.DataFrame:
    """Read JSON Lines, CSV or Parquet (optionally gzipped) into a frame."""
    return load_records(source)[0]


def load_records(source: str | Path) -> tuple[pl.DataFrame, list[str] | None]:
    """A file as a frame (for its times and keys), and, for JSON files, each
    record's value exactly as the file has it.

    A replay sends those values as they are: a frame holds one type per
    column, so a field that is a number in most records and text in a few
    would come out as text in all of them (or not load at all, where it is
    an object in some). CSV and Parquet files have types per column
    already, and so does a frame of :func:`kit.read` saved as JSON Lines
    (``_key``, ``sensors.temp_c`` columns): their values are the frame's
    rows (``None``).
    """
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
        if name.endswith(".json") and raw.lstrip().startswith(b"["):
            return _json_array(raw, path)
        lines = [line.strip() for line in raw.splitlines() if line.strip()]
        try:
            frame = pl.read_ndjson(raw, infer_schema_length=None)
        except pl.exceptions.PolarsError:
            problem = _bad_line(raw)
            if problem is not None:
                raise KitError(f"Cannot replay {str(path)!r}: {problem}") from None
            # Every line is an object; their fields change type: no one frame.
            frame = _loose_frame([json.loads(line) for line in lines])
        if frame.height != len(lines):
            problem = _bad_line(raw) or "its records and its lines do not match up."
            raise KitError(f"Cannot replay {str(path)!r}: {problem}")
        if any(c.startswith("_") or "." in c for c in frame.columns):
            return frame, None  # kit.read's frame, saved: its rows, reshaped
        return frame, [line.decode() for line in lines]
    if name.endswith(".csv"):
        return pl.read_csv(data, try_parse_dates=True), None
    if name.endswith(".parquet"):
        return pl.read_parquet(data), None
    raise KitError(
        f"Cannot replay {path.name!r}: use one of {', '.join(SUFFIXES)}, or a Polars DataFrame."
    )


def _json_array(raw: bytes, path: Path) -> tuple[pl.DataFrame, list[str]]:
    """A JSON file holding an array of objects: its frame and values."""
    try:
        records = json.loads(raw)
    except ValueError as exc:
        raise KitError(
            f"Cannot replay {str(path)!r}: it is not JSON ({exc})."
        ) from None
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise KitError(
            f"Cannot replay {str(path)!r}: item {bad} of its array is not a JSON "
            f"object but {type(records[bad]).__name__}."
        )
    values = [json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records]
    return _loose_frame(records), values


def _loose_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Records whose fields change type (an object here, a number there) as a
    frame: a column per top-level field, typed where its values agree, else
    their JSON text.

    >>> _loose_frame([{"t": 1, "o": {"x": 1}}, {"t": 2, "o": 3}]).dtypes
    [Int64, String]
    """
    import polars as pl

    names = list(dict.fromkeys(k for r in records for k in r))
    columns = {}
    for column in names:
        values = [r.get(column) for r in records]
        try:
            columns[column] = pl.Series(column, values)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            text = [None if v is None else json.dumps(v) for v in values]
            columns[column] = pl.Series(column, text, dtype=pl.String)
    return pl.DataFrame(columns, height=len(records))


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
