"""The schema contract of a topic's JSON values: types, as Polars sees them.

A schema is the nested Polars schema of the values (``{"car": String,
"tyre": Struct({"age": Int64})}``); steps see it flattened (``tyre.age``).
This module holds what the decoder, the encoder and exported services share:

* ``schema_to_json`` / ``schema_from_json``: a readable form for
  ``schema.json`` (``{"car": "String", "tyre": {"age": "Int64"}}``);
* ``flat_paths``: flattened column name → path in the nested values;
* the type of a known field is the contract, checked record by record by
  :class:`~.typecheck.TypeCheck`;
* ``merge_schema``: a schema grown by a batch's fields (new fields are
  found by :mod:`.new_fields`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "Schema",
    "flat_paths",
    "flat_schema",
    "load_schemas",
    "merge_schema",
    "schema_from_json",
    "schema_to_json",
]

Schema = dict[str, Any]  # field -> polars DataType (nested through Struct)


def schema_to_json(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A readable, JSON-ready form of a nested schema.

    >>> import polars as pl
    >>> schema_to_json({"car": pl.String, "tyre": pl.Struct({"age": pl.Int64}),
    ...                 "laps": pl.List(pl.Float64)})
    {'car': 'String', 'tyre': {'age': 'Int64'}, 'laps': ['Float64']}
    """
    return {name: _dtype_to_json(dtype) for name, dtype in schema.items()}


def _dtype_to_json(dtype: Any) -> Any:
    import polars as pl

    if isinstance(dtype, pl.Struct):
        return {f.name: _dtype_to_json(f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_dtype_to_json(dtype.inner)]
    return str(dtype.base_type()) if dtype.is_nested() else repr(dtype).split("(")[0]


def schema_from_json(data: Mapping[str, Any]) -> Schema:
    """The nested schema :func:`schema_to_json` wrote.

    >>> import polars as pl
    >>> schema_from_json({"tyre": {"age": "Int64"}, "laps": ["Float64"]})
    {'tyre': Struct({'age': Int64}), 'laps': List(Float64)}
    """
    return {name: _dtype_from_json(value) for name, value in data.items()}


def _dtype_from_json(value: Any) -> Any:
    import polars as pl

    if isinstance(value, dict):
        return pl.Struct({k: _dtype_from_json(v) for k, v in value.items()})
    if isinstance(value, list):
        return pl.List(_dtype_from_json(value[0]) if value else pl.Null)
    dtype = getattr(pl, str(value), None)
    if dtype is None or not isinstance(dtype, type | pl.DataType):
        raise ConfigurationError(f"{value!r} is not a Polars data type")
    return dtype() if isinstance(dtype, type) else dtype


def load_schemas(path: str) -> dict[str, Schema]:
    """Step name -> its input's nested schema, from an export's
    ``schema.json`` (none if the file is not there).

    >>> load_schemas("/nonexistent/schema.json")
    {}
    """
    import json

    try:
        with open(path) as handle:
            doc = json.load(handle)
    except FileNotFoundError:
        return {}
    return {
        name: schema_from_json(entry["fields"])
        for name, entry in doc.get("steps", {}).items()
    }


def flat_paths(
    schema: Mapping[str, Any], separator: str = "."
) -> dict[str, tuple[str, ...]]:
    """Flattened column name → path of keys in the nested value.

    >>> import polars as pl
    >>> flat_paths({"a": pl.Int64, "b": pl.Struct({"c": pl.Int64, "d": pl.Struct({"e": pl.String})})})
    {'a': ('a',), 'b.c': ('b', 'c'), 'b.d.e': ('b', 'd', 'e')}
    """
    out: dict[str, tuple[str, ...]] = {}
    for path, _dtype in _leaves(schema, ()):
        out[separator.join(path)] = path
    return out


def flat_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Flattened column name → its Polars type (what steps see).

    >>> import polars as pl
    >>> flat_schema({"car": pl.String, "tyre": pl.Struct({"age": pl.Int64})})
    {'car': String, 'tyre.age': Int64}
    """
    import polars as pl

    out: dict[str, Any] = {}
    for name, path in flat_paths(schema).items():
        dtype: Any = schema[path[0]]
        for key in path[1:]:
            assert isinstance(dtype, pl.Struct)
            dtype = next(f.dtype for f in dtype.fields if f.name == key)
        out[name] = dtype
    return out


def _leaves(
    schema: Mapping[str, Any], prefix: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    import polars as pl

    for name, dtype in schema.items():
        path = (*prefix, name)
        if isinstance(dtype, pl.Struct):
            if dtype.fields:  # an empty object carries nothing
                yield from _leaves({f.name: f.dtype for f in dtype.fields}, path)
        else:
            yield path, dtype


def struct_paths(schema: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """Paths of the objects (structs) in a nested schema.

    >>> import polars as pl
    >>> sorted(struct_paths({"b": pl.Struct({"d": pl.Struct({"e": pl.String})})}))
    [('b',), ('b', 'd')]
    """
    import polars as pl

    out: set[tuple[str, ...]] = set()

    def walk(fields: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for name, dtype in fields.items():
            if isinstance(dtype, pl.Struct):
                out.add((*prefix, name))
                walk({f.name: f.dtype for f in dtype.fields}, (*prefix, name))

    walk(schema, ())
    return out


def merge_schema(
    known: Mapping[str, Any],
    seen: Mapping[str, Any],
    *,
    widen: set[tuple[str, ...]] = frozenset(),  # type: ignore[assignment]
    prefix: tuple[str, ...] = (),
) -> Schema:
    """``known`` grown by what a batch ``seen`` holds: new fields (nested
    ones too) are added at the end, a Null field takes its first real type,
    integer fields in ``widen`` (or seen as fractions) become Float64; every
    other known type stays as it is.

    >>> import polars as pl
    >>> merge_schema({"a": pl.Int64, "t": pl.Struct({"x": pl.Null})},
    ...              {"t": pl.Struct({"x": pl.String, "y": pl.Int64}), "a": pl.Float64, "n": pl.Boolean})
    {'a': Float64, 't': Struct({'x': String, 'y': Int64}), 'n': Boolean}
    """
    import polars as pl

    out = dict(known)
    for name, dtype in seen.items():
        path = (*prefix, name)
        have = out.get(name)
        if have is None or have == pl.Null:
            out[name] = dtype
        elif isinstance(have, pl.Struct) and isinstance(dtype, pl.Struct):
            fields = merge_schema(
                {f.name: f.dtype for f in have.fields},
                {f.name: f.dtype for f in dtype.fields},
                widen=widen,
                prefix=path,
            )
            out[name] = pl.Struct(fields)
        elif have.is_integer() and (path in widen or dtype.is_float()):
            out[name] = pl.Float64
    for path in widen:  # integer fields that got fractions in this batch
        mine = len(path) == len(prefix) + 1 and path[: len(prefix)] == prefix
        if mine and out.get(path[-1]) is not None and out[path[-1]].is_integer():
            out[path[-1]] = pl.Float64
    return out
