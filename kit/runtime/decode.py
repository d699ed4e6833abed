"""Batch decoding of Kafka values into flat Polars frames.

Values are decoded a batch at a time (``polars.read_ndjson`` on the joined
values, about 1 µs a record), nested objects are flattened into columns named
with dots (``Lines.27.GapToLeader``), and bad values never raise: every row of
the batch comes back, bad ones with their reason in ``_error``. A known
field's type is the contract: values that do not fit it are bad; a new
field's type is what most of its values are; every batch has every field
seen so far (see :class:`Decoder`). Messages become frames in
:mod:`.messages`; new fields are found in :mod:`.new_fields`.

>>> dec = Decoder()
>>> frame = dec.decode([b'{"car": "1", "speed": 201.5, "tyre": {"age": 3}}'])
>>> frame.columns
['car', 'speed', 'tyre.age', '_error']
>>> frame = dec.decode([b'{"car": "2", "speed": 180}', b'not json', b'',
...                     b'{"car": "3", "speed": "fast"}'])
>>> frame["speed"].to_list()
[180.0, None, None, None]
>>> frame["_error"].to_list()  # doctest: +NORMALIZE_WHITESPACE
[None, "not JSON: Expecting value: line 1 column 1 (char 0) ('not json')",
 'empty value', "field 'speed': expected Float64 (a number), got 'fast'"]
>>> dec.bad, dec.total
(3, 5)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

# ~8x faster than json.loads per value; a quixstreams dependency.
from orjson import loads as _fast_loads

from .errors import ConfigurationError
from .new_fields import complete, first_schema, grown
from .schema import flat_paths, flat_schema, merge_schema
from .typecheck import TypeCheck

if TYPE_CHECKING:
    import polars as pl

__all__ = ["DEFAULT_MAX_BYTES", "FORMATS", "Decoder", "flatten"]

#: Values larger than this are counted as bad, not decoded.
DEFAULT_MAX_BYTES = 1_000_000

#: Value formats: JSON objects (batched), text, raw bytes, and quixstreams'
#: deserializers by name.
FORMATS = ("json", "str", "string", "bytes", "double", "int", "integer")

ERROR = "_error"


def flatten(frame: pl.DataFrame, separator: str = ".") -> pl.DataFrame:
    """Unnest struct columns recursively, naming fields ``parent.child``.

    >>> import polars as pl
    >>> flatten(pl.DataFrame([{"a": 1, "b": {"c": 2, "d": {"e": "x"}}}])).columns
    ['a', 'b.c', 'b.d.e']
    """
    import polars as pl

    while True:
        structs = [n for n, t in frame.schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            return frame
        # A struct with no fields (from "{}") carries nothing.
        empty = [n for n in structs if not frame.schema[n].fields]  # type: ignore[attr-defined]
        frame = frame.drop(empty)
        structs = [n for n in structs if n not in empty]
        if structs:
            frame = frame.unnest(structs, separator=separator)


class Decoder:
    """Decodes batches of values under a schema contract kept across batches.

    Args:
        format: ``json`` (default), ``str``, ``bytes``, or a quixstreams
            deserializer name (``double``, ``int``...).
        max_bytes: larger values are counted as bad.
        schema: the nested schema values are known to have (an exported
            service's ``schema.json``); without it the first batch sets it.

    The contract (JSON): every batch comes out with every known field, in
    the same order (nulls where a batch lacks one), so a step sees the same
    columns whatever the batch. A new field grows the schema wherever it
    first appears in a batch. A field's type is the type of its first value:
    text where numbers (or booleans, or objects) were is a type conflict and
    makes its record bad (a number where text was is kept as its text);
    integers and fractions are numbers alike (the field becomes Float64).

    How it stays fast: a batch is decoded at once with the known schema
    (Polars, no inference), then its keys are counted (``":`` in the JSON,
    :mod:`.schema`); only when the JSON holds keys the frame does not (a new
    field), or a value does not fit, is each record parsed and checked.

    Attributes:
        raw: the nested schema (field → Polars type, objects as Struct).
        schema: the same, flattened as steps see it (``tyre.age``).
        total, bad: records seen and records that could not be decoded.
        conflicts: bad records that were type conflicts.
        last_error: the most recent reason a record was bad.
        new_fields: fields that appeared in the last batch after the first.
        added: fields that appeared since the schema given at start (or the
            first batch's): the drift since export.
    """

    def __init__(
        self,
        *,
        format: str = "json",
        max_bytes: int = DEFAULT_MAX_BYTES,
        schema: Mapping[str, Any] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ConfigurationError(
                f"format={format!r} is not supported; choose one of {', '.join(FORMATS)}."
            )
        self.format = format
        self.max_bytes = max_bytes
        self.raw: dict[str, Any] = dict(schema or {})
        self._initial = set(flat_paths(self.raw))
        self.total = 0
        self.bad = 0
        self.conflicts = 0
        self.last_error: str | None = None
        self.new_fields: list[str] = []

    @property
    def schema(self) -> dict[str, Any]:
        """Flattened column name → Polars type, in the order steps see them."""
        return flat_schema(self.raw)

    @property
    def added(self) -> list[str]:
        """Fields that appeared since the decoder started (its schema grew)."""
        return [name for name in flat_paths(self.raw) if name not in self._initial]

    def decode(self, values: Sequence[bytes | None]) -> pl.DataFrame:
        """One row per value; undecodable values have ``_error`` set."""
        import polars as pl

        n = len(values)
        errors: list[str | None] = [None] * n
        if n and all(values) and max(map(len, values)) <= self.max_bytes:  # type: ignore[arg-type]
            good = list(range(n))
            present: list[bytes] = list(values)  # type: ignore[arg-type]
        else:
            good = []
            text = self.format in ("str", "string", "bytes")
            for i, value in enumerate(values):
                if value == b"" and text:  # empty text is text
                    good.append(i)
                elif not value:
                    errors[i] = "empty value"
                elif len(value) > self.max_bytes:
                    errors[i] = (
                        f"value of {len(value):,} bytes is over "
                        f"max_bytes={self.max_bytes:,}"
                    )
                else:
                    good.append(i)
            present = [values[i] for i in good]  # type: ignore[misc]
        before = set(self.schema) if self.raw else None
        if self.format == "json":
            frame = self._decode_json(present, good, errors)
        else:
            frame = self._decode_other(present, good, errors)
            self.raw = {name: dtype for name, dtype in frame.schema.items()}
        after = list(self.schema)
        self.new_fields = (
            [] if before is None else [f for f in after if f not in before]
        )
        if before is None:  # no schema given: the first batch's is the baseline
            self._initial = set(after)
        if len(good) < n:
            frame = _spread(frame, good, n)
        bad = n - errors.count(None)
        self.total += n
        self.bad += bad
        if bad:
            self.last_error = next(e for e in reversed(errors) if e is not None)
            return frame.with_columns(pl.Series(ERROR, errors, dtype=pl.String))
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias(ERROR))

    # JSON ----------------------------------------------------------------------
    def _decode_json(
        self, values: list[bytes], rows: list[int], errors: list[str | None]
    ) -> pl.DataFrame:
        import polars as pl

        if not values:
            return self._empty(0)
        blob = b"\n".join(values)
        if blob.count(b"\n") != len(values) - 1 or b"\r" in blob:
            # Raw newlines can only be whitespace in valid JSON: make them spaces
            # so that every value stays one line.
            values = [v.replace(b"\n", b" ").replace(b"\r", b" ") for v in values]
            blob = b"\n".join(values)
        frame = None
        if not self.raw:  # the first batch: types by majority (see TypeCheck)
            first = first_schema(blob, values)
            if first is None:  # mixed types: each record checked
                return flatten(self._decode_checked(values, rows, errors))
            self.raw = first
        try:  # the contract: decode with it, then count the keys
            decoded = pl.read_ndjson(blob, schema=self.raw)
            if decoded.height == len(values):
                if not complete(blob, decoded):  # new fields: grow, decode again
                    more = grown(self.raw, blob, values)
                    if more is not None:
                        self.raw = more
                        decoded = pl.read_ndjson(blob, schema=self.raw)
                if complete(blob, decoded):
                    frame = decoded
        except Exception:
            pass
        if frame is not None:
            flat = flatten(frame)
            if not _structured_text(flat):
                return flat
        return flatten(self._decode_checked(values, rows, errors))

    def _decode_checked(
        self,
        values: list[bytes],
        rows: list[int],
        errors: list[str | None],
    ) -> pl.DataFrame:
        """Parse and check each value; decode the good ones at once."""
        import polars as pl

        check = TypeCheck(self.raw)
        objects: list[tuple[int, dict[str, Any]]] = []
        for i, (value, row) in enumerate(zip(values, rows, strict=True)):
            obj = _parse(value)
            if isinstance(obj, str):  # the reason it is not a JSON object
                errors[row] = obj
            else:
                objects.append((i, obj))
        check.learn([obj for _i, obj in objects])  # new fields: what most values are
        keep: list[int] = []
        parsed: list[dict[str, Any]] = []
        for i, obj in objects:
            row = rows[i]
            reason = check.conflict(obj)
            if reason is not None:
                errors[row] = reason
                self.conflicts += 1
                continue
            keep.append(i)
            parsed.append(obj)
        if not keep:
            return _spread(self._empty(0), [], len(values))
        good = b"\n".join(values[i] for i in keep)
        try:
            inferred = pl.read_ndjson(good, infer_schema_length=None).schema
        except Exception:
            inferred = pl.from_dicts(
                parsed, infer_schema_length=None, strict=False
            ).schema
        self.raw = merge_schema(self.raw, dict(inferred), widen=check.widen)
        try:
            frame = pl.read_ndjson(good, schema=self.raw)
        except Exception:  # what Polars' reader refuses: NaN, huge integers
            frame = pl.from_dicts(parsed, schema=self.raw, strict=False)
        return _spread(frame, keep, len(values))

    def _empty(self, n: int) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(schema=self.raw).clear(n) if self.raw else pl.DataFrame()

    # other formats ---------------------------------------------------------------
    def _decode_other(
        self, values: list[bytes], rows: list[int], errors: list[str | None]
    ) -> pl.DataFrame:
        import polars as pl

        if self.format == "bytes":
            return pl.DataFrame({"value": pl.Series(values, dtype=pl.Binary)})
        if self.format in ("str", "string"):
            texts: list[str | None] = []
            for value, row in zip(values, rows, strict=True):
                try:
                    texts.append(value.decode())
                except UnicodeDecodeError as exc:
                    errors[row] = f"not UTF-8 text: {exc}"
                    texts.append(None)
            return pl.DataFrame({"value": pl.Series(texts, dtype=pl.String)})
        from quixstreams.models import MessageContext
        from quixstreams.models.serializers import DESERIALIZERS

        deserializer = DESERIALIZERS[self.format]()
        context = MessageContext(topic="", partition=0, offset=0, size=0)
        out: list[Any] = []
        for value, row in zip(values, rows, strict=True):
            try:
                out.append(deserializer(value, context))
            except Exception as exc:
                errors[row] = f"{self.format} deserializer: {exc}"
                out.append(None)
        return pl.DataFrame({"value": out}, strict=False)


def _parse(value: bytes) -> dict[str, Any] | str:
    """A value as a JSON object, or the reason it is not one."""
    try:
        obj = _fast_loads(value)
    except ValueError:
        # Rare: the standard library's verdict (it accepts NaN and big
        # integers) and its messages, which users know.
        try:
            obj = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return f"not JSON: {exc}" + _preview(value)
    if not isinstance(obj, dict):
        return f"not a JSON object: {type(obj).__name__}" + _preview(value)
    return obj


def _structured_text(frame: pl.DataFrame) -> bool:
    """Whether a text column may hold a list or an object: Polars writes
    those as their JSON text into a text column, where the record-by-record
    check calls them conflicts; such a batch is checked record by record, so
    the result never depends on which way it was decoded."""
    import polars as pl

    text = [c for c, t in frame.schema.items() if t == pl.String]
    if not text:
        return False
    found = pl.any_horizontal(
        (pl.col(c).str.starts_with("[") | pl.col(c).str.starts_with("{")).any()
        for c in text
    )
    return bool(frame.select(found).item())


def _spread(frame: pl.DataFrame, rows: list[int], n: int) -> pl.DataFrame:
    """``frame``'s rows placed at ``rows`` in an ``n``-row frame of nulls."""
    import polars as pl

    if frame.width == 0:
        return pl.DataFrame({"_": [None] * n}).drop("_") if n else frame
    index = pl.DataFrame({"__row": pl.Series(rows, dtype=pl.Int64)})
    placed = pl.concat([index, frame], how="horizontal")
    full = pl.DataFrame({"__row": pl.Series(range(n), dtype=pl.Int64)})
    return full.join(placed, on="__row", how="left").drop("__row")


def _preview(value: bytes, limit: int = 40) -> str:
    """A short, printable preview of a bad value.

    >>> _preview(b"hello")
    " ('hello')"
    >>> _preview(bytes(range(5)))
    " (binary: b'\\\\x00\\\\x01\\\\x02\\\\x03\\\\x04')"
    """
    try:
        text = value[:limit].decode()
    except UnicodeDecodeError:
        return f" (binary: {value[:limit]!r})"
    if not text.isprintable():
        return f" (binary: {value[:limit]!r})"
    return f" ({text!r}{'...' if len(value) > limit else ''})"
