"""A step's output frame → the records it writes, in the input's shape.

Steps see nested values flattened (``sensors.temp_c``); what they write is
nested again the way the input was (``{"sensors": {"temp_c": 21.5}}``), and
a field of the input that is null in a row is left out of that row (sparse
input stays sparse: a record never had it, or had it as null, which JSON
readers treat alike). Columns the step adds are written as they are, nulls
included. Without an input shape (an aggregate of nothing known) every
column is written flat, nulls included.

>>> import polars as pl
>>> shape = {"car": pl.String, "sensors": pl.Struct({"temp_c": pl.Float64, "rpm": pl.Int64})}
>>> frame = pl.DataFrame({"car": ["1", "2"], "sensors.temp_c": [21.5, None],
...                       "sensors.rpm": [None, None], "hot": [False, None]})
>>> encode_values(frame, shape)
['{"car":"1","sensors":{"temp_c":21.5},"hot":false}', '{"car":"2","hot":null}']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .schema import flat_paths, struct_paths

if TYPE_CHECKING:
    import polars as pl

__all__ = ["encode_rows", "encode_values", "output_schema"]

# A JSON member whose value is null: "key":null (keys may hold escaped quotes).
_NULL_MEMBER = r'"(?:[^"\\]|\\.)*":null'


def _layout(
    columns: list[str], shape: Mapping[str, Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """(tree of the input's fields, nested, leaves naming columns; added columns)."""
    paths = flat_paths(shape or {})
    objects = struct_paths(shape or {})
    tree: dict[str, Any] = {}
    added: list[str] = []
    for column in columns:
        path = paths.get(column)
        if path is None and "." in column:
            parts = tuple(column.split("."))
            if parts[:-1] and parts[:-1] in objects:  # a new field of an input object
                path = parts
        if path is None:
            added.append(column)
            continue
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):  # a column and an object of one name
                added.append(column)
                break
        else:
            node[path[-1]] = column
    return tree, added


def _leaves(node: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for child in node.values():
        out.extend([child] if isinstance(child, str) else _leaves(child))
    return out


def _struct_exprs(node: Mapping[str, Any]) -> list[pl.Expr]:
    """Fields of ``node`` as expressions; an object whose fields are all null
    in a row is null in that row (so it is left out, like its fields)."""
    import polars as pl

    exprs = []
    for key, child in node.items():
        if isinstance(child, str):
            exprs.append(pl.col(child).alias(key))
            continue
        present = pl.any_horizontal([pl.col(c).is_not_null() for c in _leaves(child)])
        struct = pl.struct(_struct_exprs(child))
        exprs.append(pl.when(present).then(struct).otherwise(None).alias(key))
    return exprs


def encode_values(frame: pl.DataFrame, shape: Mapping[str, Any] | None) -> list[str]:
    """JSON of the non-``_`` columns of each row, in the input's ``shape``."""
    import polars as pl

    fields = [c for c in frame.columns if not c.startswith("_")]
    if not fields:
        return ["{}"] * frame.height
    tree, added = _layout(fields, shape)
    parts: list[pl.Expr] = []
    if tree:
        kept = pl.struct(_struct_exprs(tree)).struct.json_encode()
        if frame.select(_leaves(tree)).null_count().sum_horizontal().item():
            # Leave null members out: "k":null, -> nothing; ,"k":null} -> };
            # {"k":null} -> {} (objects all null are null themselves).
            kept = (
                kept.str.replace_all(_NULL_MEMBER + ",", "")
                .str.replace_all("," + _NULL_MEMBER + r"\}", "}", literal=False)
                .str.replace_all(r"\{" + _NULL_MEMBER + r"\}", "{}")
            )
        parts.append(kept.alias("kept"))
    if added:
        parts.append(pl.struct(added).struct.json_encode().alias("new"))
    encoded = frame.select(parts)
    if len(parts) == 2:
        kept, new = pl.col("kept"), pl.col("new")
        joined = pl.concat_str([kept.str.head(-1), pl.lit(","), new.str.tail(-1)])
        encoded = encoded.select(pl.when(kept == "{}").then(new).otherwise(joined))
    values: list[str] = encoded.to_series().to_list()
    return values


def output_schema(
    frame_schema: Mapping[str, Any], shape: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The nested schema of what :func:`encode_values` writes for frames of
    ``frame_schema`` (the schema a step downstream reads).

    >>> import polars as pl
    >>> output_schema({"_key": pl.String, "sensors.t": pl.Float64, "n": pl.Int64},
    ...               {"sensors": pl.Struct({"t": pl.Float64})})
    {'sensors': Struct({'t': Float64}), 'n': Int64}
    """
    import polars as pl

    fields = [c for c in frame_schema if not c.startswith("_")]
    tree, added = _layout(fields, shape)

    def build(node: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: frame_schema[child]
            if isinstance(child, str)
            else pl.Struct(build(child))
            for key, child in node.items()
        }

    return {**build(tree), **{c: frame_schema[c] for c in added}}


def encode_rows(
    frame: pl.DataFrame,
    *,
    source: str,
    batch_tag: str,
    fallback_ms: int = 0,
    shape: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str | None], list[int], list[bytes]]:
    """Values (:func:`encode_values`), keys, timestamps and identities.

    Timestamps are ``_timestamp`` in epoch ms, or ``fallback_ms`` where a row
    has none. Identity: ``source/partition/offset[/n]`` when the rows still
    carry ``_partition`` and ``_offset`` (row-wise steps); otherwise the
    batch's tag and the row's index (aggregating steps). Identities are
    UTF-8 bytes, ready to be header values.

    >>> import polars as pl
    >>> frame = pl.DataFrame({"_partition": [0, 0], "_offset": [7, 7], "v": [1, 2]})
    >>> encode_rows(frame, source="t", batch_tag="b0.7", fallback_ms=5)
    (['{"v":1}', '{"v":2}'], [None, None], [5, 5], [b't/0/7', b't/0/7/1'])
    """
    import polars as pl

    values = encode_values(frame, shape)
    keys: list[str | None] = (
        frame["_key"].cast(pl.String).to_list()
        if "_key" in frame.columns
        else [None] * frame.height
    )
    stamps: list[int]
    if "_timestamp" in frame.columns and isinstance(
        frame["_timestamp"].dtype, pl.Datetime
    ):
        epoch = frame["_timestamp"].dt.epoch("ms")
        stamps = (
            pl.select(pl.when(epoch > 0).then(epoch).otherwise(fallback_ms))
            .to_series()
            .to_list()
        )
    else:
        stamps = [fallback_ms] * frame.height
    if "_partition" in frame.columns and "_offset" in frame.columns:
        coordinates = frame.select(
            pl.format("{}/{}/{}", pl.lit(source), "_partition", "_offset")
        ).to_series()
        if coordinates.is_duplicated().any():  # a row became several: number them
            occurrence = pl.int_range(pl.len()).over(coordinates)
            coordinates = (
                pl.DataFrame({"id": coordinates})
                .select(
                    pl.when(occurrence == 0)
                    .then(pl.col("id"))
                    .otherwise(pl.format("{}/{}", "id", occurrence))
                )
                .to_series()
            )
        ids = coordinates.cast(pl.Binary).to_list()
    else:
        ids = [f"{source}/{batch_tag}/{i}".encode() for i in range(frame.height)]
    return values, keys, stamps, ids
