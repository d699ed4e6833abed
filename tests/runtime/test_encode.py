"""Outputs keep the input's shape: nested objects come out nested, fields a
record lacks stay out of it, columns a step adds are written as they are."""

from __future__ import annotations

import json
import random
from typing import Any

import polars as pl

from kit.runtime.decode import Decoder
from kit.runtime.encode import encode_values, output_schema


def _sparse_records(seed: int, n: int = 300) -> list[dict[str, Any]]:
    """Records with a few of many fields each, objects nested two deep,
    strings that look like JSON, keys with odd characters."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        record: dict[str, Any] = {"id": i}
        if rng.random() < 0.5:
            record["last_lap"] = rng.choice(["1:45.149", "2:01.5", '"quoted":null,'])
        if rng.random() < 0.3:
            record["sensors"] = {}
            if rng.random() < 0.7:
                record["sensors"]["temp_c"] = rng.random() * 90
            if rng.random() < 0.5:
                record["sensors"]["tyre"] = {"age": rng.randrange(30)}
            if not record["sensors"]:
                del record["sensors"]
        if rng.random() < 0.2:
            record['we"ird key'] = rng.choice([True, False])
        if rng.random() < 0.1:
            record["laps"] = [rng.random() for _ in range(rng.randrange(3))]
        out.append(record)
    return out


def test_a_pass_through_writes_back_exactly_what_came_in() -> None:
    for seed in range(5):
        records = _sparse_records(seed)
        decoder = Decoder()
        frame = decoder.decode([json.dumps(r).encode() for r in records])
        assert frame["_error"].null_count() == frame.height
        values = encode_values(frame.drop("_error"), decoder.raw)
        assert [json.loads(v) for v in values] == records


def test_added_columns_are_written_with_their_nulls() -> None:
    decoder = Decoder()
    frame = decoder.decode([b'{"car": "1", "t": {"x": 1}}', b'{"car": "2"}'])
    out = frame.with_columns(
        lap_s=pl.Series([1.5, None]), **{"t.y": pl.Series([None, 2])}
    ).drop("_error")
    values = [json.loads(v) for v in encode_values(out, decoder.raw)]
    assert values == [
        {"car": "1", "t": {"x": 1}, "lap_s": 1.5},
        {"car": "2", "t": {"y": 2}, "lap_s": None},
    ]
    schema = output_schema(out.schema, decoder.raw)
    assert schema == {
        "car": pl.String,
        "t": pl.Struct({"x": pl.Int64, "y": pl.Int64}),
        "lap_s": pl.Float64,
    }


def test_without_an_input_shape_every_column_is_written() -> None:
    frame = pl.DataFrame({"a": [1, None], "b.c": ["x", None]})
    assert encode_values(frame, None) == ['{"a":1,"b.c":"x"}', '{"a":null,"b.c":null}']
