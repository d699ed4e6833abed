"""The chain live on the real broker: parity with prototypes, a Polars step
feeding a Quix window step, hot restart, SIGKILL + restart, dead letters."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import kit
from kit import process
from kit._export import export_chain
from kit.chain.capture import Chain, kernel_chain
from kit.chain.step import CellStep
from tests.conftest import ENGINE

pytestmark = pytest.mark.slow


def _cell(ip: Any, code: str) -> Any:
    result = ip.run_cell(code, store_history=True)
    return result.result


def _count(conn: kit.Connection, topic: str) -> int:
    return next((t.messages for t in conn.topics() if t.name == topic), 0)


def _wait_count(conn: kit.Connection, topic: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _count(conn, topic) < n:
        assert time.monotonic() < deadline, f"{topic}: {_count(conn, topic)} of {n}"
        time.sleep(0.3)


@pytest.fixture
def names() -> Any:
    suffix = uuid.uuid4().hex[:8]
    kernel_chain().steps.clear()
    kernel_chain().helpers.clear()
    yield type(
        "Names",
        (),
        {
            "input": f"in-{suffix}",
            "fast": f"fast-{suffix}",
            "laps": f"laps-{suffix}",
            "service": f"svc-{suffix}",
        },
    )
    process.stop_service(f"svc-{suffix}")
    kernel_chain().steps.clear()


def test_prototype_equals_live_output_and_windows_chain(
    ip: Any, connection: kit.Connection, names: Any
) -> None:
    kit.demo(names.input, rate=1000, count=3000, connection=connection).wait(30)
    _cell(ip, "import polars as pl\nfrom datetime import timedelta")
    ip.run_line_magic("config", "StreamMagics.prototype_rows = 5000")  # the whole input
    proto = _cell(
        ip,
        f"%%stream fast --input {names.input} --output {names.fast}\n"
        'df.filter(pl.col("gear") >= 4).with_columns(speed_ms=pl.col("speed") / 3.6)',
    )
    assert isinstance(proto, pl.DataFrame) and 0 < proto.height < 3000
    windows = _cell(
        ip,
        f"%%stream laps --input fast --output {names.laps} --quix\n"
        'sdf = sdf.group_by("car").tumbling_window(timedelta(milliseconds=500)).count().final()',
    )
    assert windows.height > 0
    # The prototype's topics, group_by's repartition topic included, are gone.
    left = connection.admin().list_topics(timeout=10).topics
    assert not [n for n in left if "__kit_proto_laps" in n], sorted(left)
    live = ip.run_line_magic("stream", f"run --name {names.service}")
    guarantee = "exactly-once" if ENGINE == "kafka" else "at-least-once"
    assert live.status()["steps"][0]["guarantee"] == guarantee
    _wait_count(connection, names.fast, proto.height)
    out = kit.read(names.fast, dedupe=True)
    fields = [c for c in proto.columns if not c.startswith("_")]
    assert (
        out.select(fields)
        .sort("car", "ts")
        .equals(proto.select(fields).sort("car", "ts"))
    )
    _wait_count(connection, names.laps, windows.height)
    live_windows = kit.read(names.laps, dedupe=True)
    key = ["start", "end"]
    assert set(live_windows.select([*key, "value"]).iter_rows()) >= set(
        windows.select([*key, "value"]).iter_rows()
    )
    html = ip.run_line_magic("stream", "status --once").data
    assert names.service in html and "fast" in html and "laps" in html
    view = ip.run_line_magic("stream", "status")  # the live widget
    assert names.service in view.table.value and view.running
    view.stop()
    ip.run_line_magic("stream", f"stop {names.service}")
    ip.run_line_magic("config", "StreamMagics.prototype_rows = 1000")
    assert not any(s.name == names.service for s in process.list_services())


def test_hot_restart_loses_nothing(
    ip: Any, connection: kit.Connection, names: Any
) -> None:
    connection.create_topic(names.input, partitions=2)
    _cell(ip, f"%%stream fast --input {names.input} --output {names.fast}\ndf")
    live = ip.run_line_magic("stream", f"run --name {names.service}")
    first_pid = live.service.pid
    producer = kit.demo(names.input, rate=400, duration=6, connection=connection)
    time.sleep(2.5)
    _cell(
        ip,
        f"%%stream fast --input {names.input} --output {names.fast}\ndf.with_columns(v2=pl.lit(2))",
    )
    producer.wait(30)
    sent = producer.sent
    # (Not the topic's offsets: on real Kafka each transaction's commit
    # marker takes an offset too.)
    live.wait(idle=1.0, timeout=60)
    out = kit.read(names.fast, dedupe=True)
    assert out.height == sent
    assert out["v2"].null_count() < sent  # the new code is live
    assert set(out["ts"].to_list()) == set(kit.read(names.input)["ts"].to_list())
    # The handle follows the restarted process, and waits on it.
    assert live.service.pid != first_pid
    live.wait(idle=1.0, timeout=30)
    # Restarted with nothing new to read, it is caught up at once (lag 0).
    ip.run_line_magic("stream", f"run --name {names.service}")
    again = ip.run_line_magic("stream", f"run --name {names.service}")
    started = time.monotonic()
    again.wait(idle=1.0, timeout=30)
    assert time.monotonic() - started < 15


def test_sigkill_and_restart_lose_and_duplicate_nothing(
    connection: kit.Connection, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"kin-{suffix}", f"kout-{suffix}", f"kill-{suffix}"
    connection.create_topic(source, partitions=4)
    connection.create_topic(sink, partitions=4)
    n = 40_000
    producer = connection.producer()
    for i in range(n):
        producer.produce(
            source,
            key=str(i % 13).encode(),
            value=json.dumps({"i": i, "v": i % 97}).encode(),
            partition=i % 4,
        )
    producer.flush(30)
    chain = Chain()
    chain.add_step(
        CellStep("double", "polars", source, sink, 'df.with_columns(w=pl.col("v") * 2)')
    )
    folder = export_chain(chain, tmp_path / "svc", name=name, topics=[source, sink])
    kills = 0
    try:
        for _ in range(3):
            service = process.start_service(folder, name=name, connection=connection)
            process.wait_running(service)
            target = _count(connection, sink) + n // 6
            deadline = time.monotonic() + 60
            while (
                _count(connection, sink) < min(target, n - 1)
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            os.kill(service.pid, signal.SIGKILL)
            kills += 1
            process.stop_service(name)
        service = process.start_service(folder, name=name, connection=connection)
        process.wait_running(service)
        deadline = time.monotonic() + 120
        # Done when every input has an output (duplicates do not count).
        while _count(connection, sink) < n or kit.read(sink, dedupe=True).height < n:
            assert time.monotonic() < deadline, f"out {_count(connection, sink)}"
            time.sleep(1.0)
    finally:
        process.stop_service(name)
    raw = kit.read(sink)
    out = kit.read(sink, dedupe=True)
    assert kills == 3
    assert raw.height >= n
    assert out.height == n, f"{out.height} unique of {n} ({raw.height} with duplicates)"
    assert sorted(out["i"].to_list()) == list(range(n))
    assert (out["w"] == out["v"] * 2).all()
    connection.delete_topics([source, sink])


def test_every_bad_record_reaches_the_dlq_with_its_reason(
    connection: kit.Connection, tmp_path: Path
) -> None:
    from confluent_kafka import TopicPartition

    suffix = uuid.uuid4().hex[:8]
    source, sink, name = f"din-{suffix}", f"dout-{suffix}", f"dlq-{suffix}"
    connection.create_topic(source, partitions=1)
    producer = connection.producer()
    values = [json.dumps({"v": i}).encode() for i in range(30)]
    values[5], values[9], values[20] = b"not json", b"", b"\x00\xff"
    for value in values:
        producer.produce(source, value=value)
    producer.flush(10)
    chain = Chain()
    body = 'df.with_columns(x=pl.col("v").map_elements(lambda v: 1 // (v - 13), return_dtype=pl.Int64))'
    chain.add_step(CellStep("inverse", "polars", source, sink, body))
    folder = export_chain(chain, tmp_path / "svc", name=name, topics=[source])
    service = process.start_service(folder, name=name, connection=connection)
    try:
        process.wait_running(service)
        _wait_count(connection, sink, 26)
        _wait_count(connection, source + ".dlq", 4)
    finally:
        process.stop_service(name)
    status = service.status()  # the final status, written at exit
    assert status and status["steps"][0]["dlq"] == 4
    consumer = connection.consumer()
    from kit.io.positions import partitions

    parts = connection.offsets(
        {source + ".dlq": partitions(connection, source + ".dlq")}
    )
    consumer.assign(
        [TopicPartition(t, p, 0) for (t, p), (_lo, hi) in parts.items() if hi]
    )
    dead = []
    while len(dead) < 4:
        message = consumer.poll(5)
        assert message is not None
        dead.append({k: v.decode() for k, v in message.headers()})
    consumer.close()
    offsets = sorted(int(d["kit-source-offset"]) for d in dead)
    assert offsets == [5, 9, 13, 20]
    reasons = {int(d["kit-source-offset"]): d["kit-error"] for d in dead}
    assert "not JSON" in reasons[5] and "empty value" in reasons[9]
    assert "ZeroDivisionError" in reasons[13] and "step 'inverse' failed" in reasons[13]
    assert all(
        d["kit-step"] == "inverse" and d["kit-source-topic"] == source for d in dead
    )
    assert sorted(kit.read(sink)["v"].to_list()) == [
        i for i in range(30) if i not in (5, 9, 13, 20)
    ]
    connection.delete_topics([source, sink, source + ".dlq"])


def test_windows_closed_by_one_record_all_survive_dedupe(
    ip: Any, connection: kit.Connection, names: Any
) -> None:
    """A partition-closing window step emits the windows of every key when one
    record passes their end: each output gets its own identity (so
    ``dedupe=True`` keeps them all), numpy values are written as numbers, and
    ``live.wait()`` returns once the chain has caught up. The export's parity
    sample of it is what the live run wrote, a ``None`` written as ``null``
    (it once left ``null`` fields out, and the exported test failed)."""
    connection.create_topic(names.input, partitions=1)
    producer = connection.producer()
    start = int(time.time()) // 30 * 30_000 - 60_000  # windows start on it
    for i in range(60):  # three keys, one record each per 0.5 s
        producer.produce(
            names.input,
            key=f"k{i % 3}".encode(),
            value=json.dumps({"v": i}).encode(),
            timestamp=start + i * 500,
        )
    producer.flush(10)
    _cell(
        ip,
        "import numpy as np\nfrom datetime import timedelta\n"
        "from quixstreams.dataframe.windows import Sum",
    )
    windows = _cell(
        ip,
        f"%%stream laps --input {names.input} --output {names.laps} --quix\n"
        'sdf = sdf.tumbling_window(timedelta(seconds=3)).agg(value=Sum("v"))\n'
        'sdf = sdf.final(closing_strategy="partition")\n'
        'sdf = sdf.apply(lambda w: {**w, "half": np.float64(w["value"]) / 2,\n'
        '                          "odd": None if w["value"] > 50 else w["value"]})',
    )
    assert windows.height == 27  # 10 windows of 3 s per key, the last 3 still open
    assert windows.schema["_timestamp"] == pl.Datetime("ms", "UTC")  # as live
    assert "_topic" not in windows.columns  # (the prototype's temporary topic)
    live = ip.run_line_magic("stream", f"run --name {names.service}")
    status = live.wait(timeout=60)
    assert status["steps"][0]["records_in"] == 60
    raw = kit.read(names.laps)
    out = kit.read(names.laps, dedupe=True)
    assert raw.height == out.height == 27
    assert (out["half"] == out["value"] / 2).all()
    key = ["_key", "start", "value"]
    assert out.select(key).sort(key).equals(windows.select(key).sort(key))
    assert 0 < out["odd"].null_count() < out.height
    from kit._parity import record_samples

    chain = kernel_chain()
    samples = record_samples(chain, chain.ordered(["laps"]), connection=connection)
    written = kit.read(names.laps, format="bytes", dedupe=True)["value"].to_list()
    canonical = sorted(json.dumps(json.loads(v), sort_keys=True) for v in written)
    expected = sorted(
        json.dumps(json.loads(v), sort_keys=True) for v in samples.outputs[names.laps]
    )
    assert expected == canonical and '"odd": null' in "".join(expected)
    ip.run_line_magic("stream", f"stop {names.service}")


def test_prototypes_on_empty_input_and_values_json_cannot_hold(
    ip: Any, connection: kit.Connection, names: Any
) -> None:
    """An empty input (a topic, or an upstream prototype with no output) is not
    an error; a Quix step whose output the live run could not write fails in
    its prototype, naming the cell."""
    from IPython.core.error import UsageError

    connection.create_topic(names.input, partitions=1)
    _cell(ip, "from datetime import timedelta")
    for cell in (
        f"%%stream laps --input {names.input} --quix\n"
        "sdf = sdf.tumbling_window(timedelta(seconds=1)).count().final()",
        '%%stream fast --input laps\ndf.filter(pl.col("value") > 1)',
        f'%%stream direct --input {names.input}\ndf.filter(pl.col("v") > 1)',
    ):
        result = ip.run_cell(cell, store_history=True)
        assert result.result.height == 0
    from kit.chain.prototype import Prototype

    empty = ip.run_cell(f"%%stream direct --input {names.input}\ndf").result
    assert empty.height == 0
    assert "no input records yet" in Prototype("direct", empty, empty, 0.0).summary()
    producer = connection.producer()
    producer.produce(names.input, key=b"a", value=b'{"v": 1}')
    producer.flush(10)
    with pytest.raises(UsageError, match="'bad' outputs a value JSON cannot hold"):
        ip.run_cell(
            f"%%stream bad --input {names.input} --quix\n"
            'sdf = sdf.apply(lambda r: {"tags": {"a", "b"}})'
        )
    kernel_chain().steps.pop("bad", None)
