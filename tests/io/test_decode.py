"""Batch decoding: flattening, schema drift and every kind of bad value."""

from __future__ import annotations

import json
import random
import struct

import polars as pl
import pytest

from kit.io.decode import Decoder, flatten


def test_nested_objects_flatten_with_dots_and_lists_stay_lists() -> None:
    frame = Decoder().decode([b'{"a": 1, "b": {"c": 2, "d": {"e": "x"}}, "f": [1, 2]}'])
    assert frame.columns == ["a", "b.c", "b.d.e", "f", "_error"]
    assert frame.row(0) == (1, 2, "x", [1, 2], None)


def test_empty_objects_are_dropped_by_flatten() -> None:
    frame = flatten(pl.DataFrame([{"a": 1, "b": {}}]))
    assert frame.columns == ["a"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", "not JSON"),
        (b"123", "not a JSON object: int"),
        (b"[1, 2]", "not a JSON object: list"),
        (b"", "empty value"),
        (None, "empty value"),
        (b"\x00\xff\xfe binary", "binary"),
        (b'{"big": "' + b"x" * 1_000_001 + b'"}', "over max_bytes=1,000,000"),
        (b'{"truncated": ', "not JSON"),
    ],
    ids=["text", "number", "array", "empty", "null", "binary", "huge", "truncated"],
)
def test_bad_values_are_counted_not_raised(value: bytes | None, reason: str) -> None:
    decoder = Decoder()
    good = b'{"speed": 1.5}'
    frame = decoder.decode([good, value, good])
    assert frame.height == 3
    assert frame["speed"].to_list() == [1.5, None, 1.5]
    errors = frame["_error"].to_list()
    assert errors[0] is None and errors[2] is None
    assert reason in errors[1]
    assert (decoder.total, decoder.bad) == (3, 1)
    assert reason in (decoder.last_error or "")


def test_newlines_inside_values_keep_rows_aligned() -> None:
    values = [b'{\n"a": 1,\r\n "b": "x"\n}', b'{"a": 2, "b": "line\\nbreak"}']
    frame = Decoder().decode(values)
    assert frame["a"].to_list() == [1, 2]
    assert frame["b"].to_list() == ["x", "line\nbreak"]


def test_wrong_type_after_the_first_batch_is_bad() -> None:
    decoder = Decoder()
    decoder.decode([b'{"car": "1", "speed": 200.5}'])
    frame = decoder.decode(
        [b'{"car": "2", "speed": "fast"}', b'{"car": "3", "speed": 180.0}']
    )
    assert frame["speed"].to_list() == [None, 180.0]
    assert frame["_error"][0] == "field 'speed': expected Float64, got 'fast'"
    assert decoder.bad == 1


def test_integers_and_floats_widen_instead_of_failing() -> None:
    decoder = Decoder()
    decoder.decode([b'{"rpm": 11000}'])
    frame = decoder.decode([b'{"rpm": 11000.5}'])
    assert decoder.bad == 0
    assert frame["rpm"].dtype == pl.Float64
    assert decoder.schema["rpm"] == pl.Float64


def test_schema_drift_reports_new_fields() -> None:
    decoder = Decoder()
    decoder.decode([b'{"speed": 1.0}'])
    assert decoder.new_fields == []
    frame = decoder.decode([b'{"speed": 2.0, "drs": true}'])
    assert decoder.new_fields == ["drs"]
    assert list(decoder.schema) == ["speed", "drs"]
    assert frame["drs"].to_list() == [True]


def test_rows_stay_aligned_for_any_mix_of_good_and_bad() -> None:
    rng = random.Random(3)
    kinds = [b'{"i": %d}', b"oops %d", b"", b"%d", b'{"i": %d, "extra": {"x": 1}}']
    decoder = Decoder()
    for _ in range(20):
        picks = [rng.randrange(len(kinds)) for _ in range(rng.randint(1, 40))]
        values = [kinds[k].replace(b"%d", str(i).encode()) for i, k in enumerate(picks)]
        frame = decoder.decode(values)
        assert frame.height == len(values)
        for i, k in enumerate(picks):
            ok = k in (0, 4)
            assert (frame["_error"][i] is None) == ok
            if ok:
                assert frame["i"][i] == i


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("str", "héllo".encode(), "héllo"),
        ("bytes", b"\x00\x01", b"\x00\x01"),
        ("double", struct.pack(">d", 2.5), 2.5),
        ("int", struct.pack(">i", 42), 42),
    ],
)
def test_other_formats(fmt: str, value: bytes, expected: object) -> None:
    frame = Decoder(format=fmt).decode([value])
    assert frame["value"].to_list() == [expected]


def test_str_format_counts_invalid_utf8() -> None:
    decoder = Decoder(format="str")
    frame = decoder.decode([b"\xff\xfe"])
    assert decoder.bad == 1 and "not UTF-8" in frame["_error"][0]


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(
        ValueError, match=r"format='avro' is not supported; choose one of json"
    ):
        Decoder(format="avro")


def test_a_large_clean_batch_decodes_at_once() -> None:
    values = [json.dumps({"i": i, "car": {"n": i % 7}}).encode() for i in range(20_000)]
    frame = Decoder().decode(values)
    assert frame.height == 20_000 and frame["_error"].null_count() == 20_000
    assert frame["car.n"].sum() == sum(i % 7 for i in range(20_000))


def test_a_batch_with_bad_values_keeps_what_json_accepts() -> None:
    """The per-value check of a batch with bad values (orjson, then the
    standard library for what orjson refuses) keeps every value json.loads
    accepts, e.g. NaN and integers beyond 64 bits, and gives its messages."""
    values = [
        b'{"a": 1}',
        b'{"a": NaN}',
        b"{oops",
        b'{"a": 2, "big": 123456789012345678901234567890}',
    ]
    frame = Decoder().decode(values)
    errors = frame["_error"].to_list()
    assert errors[0] is None and errors[1] is None and errors[3] is None
    assert errors[2].startswith(
        "not JSON: Expecting property name enclosed in double quotes"
    )
    assert frame["a"][3] == 2 and frame["a"][2] is None
