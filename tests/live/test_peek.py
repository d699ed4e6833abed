"""The peek widget: table, status, pause/resume, stop (browser test in tests/browser)."""

from __future__ import annotations

import time

import kit
from kit.live.table import render_table
from tests.conftest import produce_json


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_peek_shows_newest_rows_status_and_schema(
    connection: kit.Connection, topic: str
) -> None:
    peek = kit.peek(topic, start="earliest", rows=5, refresh=0.05)
    try:
        now = int(time.time() * 1000)
        for i in range(20):  # distinct times: "newest" is well defined
            produce_json(
                connection, topic, [{"lap": i, "speed": 100.0 + i}], timestamp=now + i
            )
        _wait(lambda: peek.tap.total == 20 and "119" in peek.table.value)
        assert peek.table.value.count("<tr>") == 1 + 5  # header + 5 newest
        assert "20 seen" in peek.status.value and "live" in peek.status.value
        produce_json(connection, topic, [{"lap": 99, "speed": 1.0, "drs": True}])
        producer = connection.producer()
        producer.produce(topic, value=b"not json")
        producer.flush(5)
        _wait(lambda: "bad" in peek.status.value and "new field" in peek.status.value)
        assert "not JSON" in peek.status.value
        assert "drs" in peek.schema.value and "kit-new" in peek.schema.value
    finally:
        peek.stop()
    assert not peek.tap.running and "stopped" in peek.status.value
    assert peek.stop_button.disabled


def test_pause_freezes_the_table_while_the_tap_keeps_reading(
    connection: kit.Connection, topic: str
) -> None:
    peek = kit.peek(topic, refresh=0.05)
    try:
        produce_json(connection, topic, [{"i": 1}])
        _wait(lambda: peek.tap.total == 1 and ">1<" in peek.table.value)
        peek.pause_button.value = True
        assert peek.pause_button.description == "Resume"
        time.sleep(0.2)  # a redraw already under way when Pause was pressed ends
        before = (peek.redraws, peek.table.value)
        produce_json(connection, topic, [{"i": 2}, {"i": 3}])
        _wait(lambda: peek.tap.total == 3)
        time.sleep(0.3)
        assert (peek.redraws, peek.table.value) == before
        assert "paused" in peek.status.value
        peek.pause_button.value = False
        _wait(lambda: ">3<" in peek.table.value)
    finally:
        peek.stop()


def test_stop_button_stops_everything(connection: kit.Connection, topic: str) -> None:
    peek = kit.peek(topic, refresh=0.05)
    peek.stop_button.click()
    _wait(lambda: not peek.running and not peek.tap.running)


def test_render_table_escapes_html() -> None:
    import polars as pl

    out = render_table(pl.DataFrame({"x": ["<script>"]}))
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_headless_peek_shows_schema_and_new_fields(
    connection: kit.Connection, topic: str, monkeypatch: object
) -> None:
    """Run headless, the peek's saved output still holds its schema, with the
    fields that appeared later marked new."""
    peek = kit.peek(topic, start="earliest", rows=5, refresh=0.05)
    try:
        produce_json(
            connection, topic, [{"lap": i, "speed": 1.0 * i} for i in range(5)]
        )
        _wait(lambda: peek.tap.total == 5)
        produce_json(connection, topic, [{"lap": 9, "speed": 9.0, "drs": True}])
        _wait(lambda: "new field" in peek.status.value)
    finally:
        peek.stop()
    monkeypatch.setenv("KIT_HEADLESS", "1")  # type: ignore[attr-defined]
    html = peek._repr_mimebundle_()["text/html"]
    assert "6 seen" in html and "kit-table" in html
    assert "Schema: 3 fields, 1 new" in html
    assert "drs <span class='kit-new'>new</span>" in html


def test_newest_rows_come_from_every_partition(
    connection: kit.Connection, topic_name: str
) -> None:
    """Partitions arrive in batches of their own: the newest rows are the
    newest by record time across all of them, not the last batch's."""
    connection.create_topic(topic_name, partitions=3)
    now = int(time.time() * 1000) - 60_000
    producer = connection.producer()
    for i in range(3000):  # times interleave across the partitions
        producer.produce(
            topic_name, value=b'{"i": %d}' % i, partition=i % 3, timestamp=now + i
        )
    producer.flush(10)
    peek = kit.peek(topic_name, start="earliest", rows=9, buffer=300, refresh=0.05)
    try:
        _wait(lambda: peek.tap.total == 3000)
        snapshot = peek.tap.snapshot()
        assert sorted(snapshot["i"].to_list()) == list(range(2700, 3000))
        _wait(
            lambda: all(f"<td>{i}</td>" in peek.table.value for i in range(2991, 3000))
        )
    finally:
        peek.stop()
        connection.delete_topics([topic_name])
