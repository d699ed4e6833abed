"""New fields in a batch of JSON values: whether a batch decoded under the
known schema left a key out (its keys counted against what was decoded: one
byte counted at memory speed), and the schema grown by the new fields, each
of the type Polars infers from all the batch's rows, where their values
agree on one (else the batch is checked record by record, where the
majority decides: :class:`~.typecheck.TypeCheck`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# ~8x faster than json.loads per value; a quixstreams dependency.
from orjson import loads as _fast_loads

from .schema import flat_paths, flat_schema, merge_schema

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "complete",
    "decoded_count",
    "first_schema",
    "grown",
    "key_count",
    "null_count",
]


def key_count(blob: bytes) -> int:
    """Keys in a blob of compact JSON objects (``"key":`` or ``"key": ``):
    inside a JSON string a quote is always escaped, so ``":`` follows a key
    and nothing else, except as ``\\":`` in a string that holds JSON. Keys
    with a null value are counted by :func:`null_count` as well.

    >>> key_count(b'{"a":1,"b":{"c":"x"}}\\n{"a": 2, "s": "{\\\\"q\\\\": 1}"}')
    5
    """
    keys = blob.count(b'":')
    if blob.find(b"\\") >= 0:  # one byte: memchr, ~30x faster than a pattern
        keys -= blob.count(b'\\":')
    return keys


def null_count(blob: bytes) -> int:
    """Keys whose value is ``null`` in a blob of JSON objects.

    >>> null_count(b'{"a":null,"b": null,"c":[null]}')
    2
    """
    if b"null" not in blob:
        return 0
    nulls = blob.count(b'":null') + blob.count(b'": null')
    if blob.find(b"\\") >= 0:
        nulls -= blob.count(b'\\":null') + blob.count(b'\\": null')
    return nulls


def complete(blob: bytes, frame: pl.DataFrame) -> bool:
    """Whether ``frame``, decoded from ``blob`` with a known schema, holds
    every key of it (a key it lacks is a field the schema does not have).

    Every key has a colon after it: when the colons are as many as the keys
    the frame holds, none was left out (one byte counted at memory speed).
    Otherwise (colons in text, null values) the keys themselves are counted.

    >>> import polars as pl
    >>> schema = {"a": pl.Int64, "t": pl.String}
    >>> blob = b'{"a":1,"t":"1:45"}\\n{"a":null,"t":"x"}'
    >>> complete(blob, pl.read_ndjson(blob, schema=schema))
    True
    >>> blob = b'{"a":1,"new":2}'
    >>> complete(blob, pl.read_ndjson(blob, schema=schema))
    False
    """
    decoded = decoded_count(frame)
    if blob.count(b":") == decoded:
        return True
    return decoded + null_count(blob) == key_count(blob)


def decoded_count(frame: pl.DataFrame) -> int:
    """Keys a decoded (not flattened) frame holds: non-null values of every
    field, nested objects and objects in lists included.

    >>> import polars as pl
    >>> frame = pl.read_ndjson(b'{"a":1,"b":{"c":"x"}}\\n{"a":2,"b":null,"l":[{"q":1}]}')
    >>> decoded_count(frame)
    6
    """
    return sum(_present(frame[name]) for name in frame.columns)


def _present(series: pl.Series) -> int:
    import polars as pl

    n = series.len() - series.null_count()
    dtype = series.dtype
    if isinstance(dtype, pl.Struct) and n:
        n += sum(_present(series.struct.field(f.name)) for f in dtype.fields)
    elif isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct) and n:
        inner = series.explode().drop_nulls()
        n += sum(_present(inner.struct.field(f.name)) for f in dtype.inner.fields)
    return n


def first_schema(blob: bytes, values: list[bytes]) -> dict[str, Any] | None:
    """The first batch's schema as Polars infers it from all its rows, if
    every field has values of one class: Polars makes a field with numbers
    and text a text field, where the majority decides (``None`` then)."""
    return grown({}, blob, values)


def grown(
    known: Mapping[str, Any], blob: bytes, values: list[bytes]
) -> dict[str, Any] | None:
    """``known`` grown by the fields a batch adds, as Polars infers them from
    all its rows; ``None`` if a new text field also has numbers (or other
    classes): Polars would have made them text, where the majority decides
    (record by record, :class:`TypeCheck`). Only the new text fields are
    looked at (other mixes fail to infer, or to decode under ``known``)."""
    import polars as pl

    try:
        seen = dict(pl.read_ndjson(blob, infer_schema_length=None).schema)
    except Exception:
        return None
    out = merge_schema(known, seen)
    old = set(flat_paths(known))
    paths = flat_paths(out)
    text = [
        paths[name]
        for name, dtype in flat_schema(out).items()
        if name not in old and dtype == pl.String
    ]
    if text and not _text_only(values, text):
        return None
    return out


def _text_only(values: list[bytes], paths: list[tuple[str, ...]]) -> bool:
    """Whether every value at ``paths`` (where there is one) is text."""
    for value in values:
        try:
            obj = _fast_loads(value)
        except ValueError:
            return False
        for path in paths:
            node: Any = obj
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None and type(node) is not str:
                return False  # a number (or else) where other records have text
    return True
