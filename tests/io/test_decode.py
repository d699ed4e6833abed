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
    assert (
        frame["_error"][0] == "field 'speed': expected Float64 (a number), got 'fast'"
    )
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


# The schema contract -----------------------------------------------------------
def test_every_batch_has_every_known_field_in_the_same_order() -> None:
    """Sparse records: a batch without a field still has its column, typed."""
    decoder = Decoder()
    decoder.decode([b'{"car": "1", "last_lap": "1:45.1", "pit": false}'])
    frame = decoder.decode([b'{"car": "2"}', b'{"car": "3", "gap": 1.5}'])
    assert frame.columns == ["car", "last_lap", "pit", "gap", "_error"]
    assert frame.schema["last_lap"] == pl.String and frame.schema["pit"] == pl.Boolean
    assert frame["last_lap"].to_list() == [None, None]
    assert frame["_error"].null_count() == 2


def test_a_schema_given_at_start_holds_from_the_first_batch() -> None:
    from kit.runtime.schema import schema_from_json

    schema = schema_from_json({"car": "String", "tyre": {"age": "Int64"}})
    frame = Decoder(schema=schema).decode([b'{"car": "7"}'])
    assert frame.columns == ["car", "tyre.age", "_error"]
    assert frame.schema["tyre.age"] == pl.Int64


def test_a_field_first_seen_late_in_a_big_batch_is_kept() -> None:
    values = [json.dumps({"i": i}).encode() for i in range(5000)]
    values[3000] = b'{"i": 3000, "late": "here", "deep": {"x": 1}}'
    decoder = Decoder()
    decoder.decode([b'{"i": -1}'])  # a known schema without the new fields
    frame = decoder.decode(values)
    assert frame["late"][3000] == "here" and frame["late"].null_count() == 4999
    assert frame["deep.x"][3000] == 1
    assert decoder.added == ["late", "deep.x"]


def test_a_number_sent_as_text_is_a_type_conflict_even_in_the_first_batch() -> None:
    """Whichever record comes first: the type is what most values are."""
    values = [
        b'{"m": "b", "temp": "22.0"}',  # first, but the odd one out
        b'{"m": "a", "temp": 21.5}',
        b'{"m": "c", "temp": 23}',
    ]
    for order in (values, values[::-1]):
        assert Decoder().decode(order).schema["temp"] == pl.Float64
    decoder = Decoder()
    frame = decoder.decode(values)
    assert frame["temp"].to_list() == [None, 21.5, 23.0]
    assert frame["_error"][0] == (
        "field 'temp': expected a number (most of its values), got '22.0'"
    )
    later = decoder.decode([b'{"m": "d", "temp": "hot"}'])
    assert later["_error"][0] == "field 'temp': expected Float64 (a number), got 'hot'"
    assert (decoder.bad, decoder.conflicts) == (2, 2)


def test_a_number_where_text_was_is_kept_as_text() -> None:
    decoder = Decoder()
    decoder.decode([b'{"id": "a7"}'])
    frame = decoder.decode([b'{"id": 8}'])
    assert frame["id"].to_list() == ["8"] and decoder.bad == 0


def test_good_records_decode_the_same_with_or_without_bad_ones_beside_them() -> None:
    """The result never depends on noise: a batch with junk in it gives the
    good records exactly what the clean batch gives them."""
    clean = [json.dumps({"i": i, "v": i * 1.5}).encode() for i in range(2000)]
    clean[1500] = b'{"i": 1500, "v": 2250.0, "late": true}'
    noisy = [*clean[:700], b"junk", *clean[700:], b'{"i": "x"}']
    a, b = Decoder(), Decoder()
    for decoder in (a, b):
        decoder.decode([b'{"i": 0, "v": 0.5}'])
    got_clean = a.decode(clean).drop("_error")
    got_noisy = b.decode(noisy)
    got_noisy = got_noisy.filter(pl.col("_error").is_null()).drop("_error")
    assert got_clean.equals(got_noisy)
    assert a.schema == b.schema and "late" in a.schema


def test_lists_and_objects_where_text_was_are_conflicts_whichever_way() -> None:
    """The fast path (a batch decoded with the known schema) and the record
    check agree: a list or an object in a text field is a type conflict,
    while a text that merely starts with a bracket is text."""
    decoder = Decoder()
    decoder.decode([b'{"gap": "+1.2"}'])
    frame = decoder.decode([b'{"gap": [1, 2]}', b'{"gap": "[pit]"}', b'{"gap": {}}'])
    assert frame["gap"].to_list() == [None, "[pit]", None]
    assert frame["_error"][0] == "field 'gap': expected String (a text), got [1, 2]"
    assert decoder.conflicts == 2
