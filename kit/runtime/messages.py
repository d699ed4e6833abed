"""Confluent-kafka messages → a Polars frame: metadata columns (key,
timestamp, partition, offset, and the record identity on request), then the
decoded values."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from .decode import Decoder

__all__ = ["META_COLUMNS", "frame_from_messages"]

_second = itemgetter(1)

#: The metadata columns every frame read from a topic starts with.
META_COLUMNS = ("_key", "_timestamp", "_partition", "_offset")


def frame_from_messages(
    messages: Sequence[Any], decoder: Decoder, *, ids: bool = False
) -> pl.DataFrame:
    """A frame from confluent-kafka messages: metadata columns, then the
    decoded value's columns, then ``_error``.

    Keys are text (hex ``0x...`` where not UTF-8); timestamps are UTC. With
    ``ids``, an ``_id`` column holds each record's ``kit-id`` header (the
    identity kit services stamp on their outputs), or null.
    """
    import polars as pl

    keys, stamps, partitions, offsets, raw = _columns(messages)
    meta = pl.DataFrame(
        {
            "_key": _keys(keys),
            "_timestamp": pl.Series(stamps, dtype=pl.Int64).cast(
                pl.Datetime("ms", "UTC")
            ),
            "_partition": pl.Series(partitions, dtype=pl.Int32),
            "_offset": pl.Series(offsets, dtype=pl.Int64),
        }
    )
    if ids:
        meta = meta.with_columns(
            pl.Series(
                "_id", [_identity(m.headers()) for m in messages], dtype=pl.String
            )
        )
    values = decoder.decode(raw)
    values = values.drop([c for c in META_COLUMNS if c in values.columns])
    return pl.concat([meta, values], how="horizontal")


def _columns(messages: Sequence[Any]) -> tuple[list[Any], ...]:
    """Keys, timestamps, partitions, offsets and values of a batch.

    The accessors are mapped over the batch at C speed (~0.15 µs a record); a
    Python loop building a tuple per record cost ~1 µs, and fed the cyclic
    garbage collector 20,000 containers a batch.
    """
    if not messages:
        return [], [], [], [], []
    kind = type(messages[0])
    return (
        list(map(kind.key, messages)),
        list(map(_second, map(kind.timestamp, messages))),
        list(map(kind.partition, messages)),
        list(map(kind.offset, messages)),
        list(map(kind.value, messages)),
    )


def _keys(keys: list[bytes | None]) -> pl.Series:
    """Keys as text: UTF-8 where it is, else hex digits (``0x...``)."""
    import polars as pl

    try:
        series: pl.Series = pl.Series("_key", keys, dtype=pl.Binary).cast(pl.String)
        return series
    except pl.exceptions.ComputeError:  # some key is not UTF-8
        return pl.Series("_key", [_text(k) for k in keys], dtype=pl.String)


def _text(key: bytes | None) -> str | None:
    """A key as text: UTF-8 where it is, else its hex digits (``0x...``)."""
    if key is None:
        return None
    try:
        return key.decode()
    except UnicodeDecodeError:
        return "0x" + key.hex()


def _identity(headers: list[tuple[str, bytes]] | None) -> str | None:
    for key, value in headers or ():
        if key == "kit-id":
            return (
                value.decode(errors="replace")
                if isinstance(value, bytes)
                else str(value)
            )
    return None
