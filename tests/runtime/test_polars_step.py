"""The Polars step runner on the real broker: a rebalance in the middle of a
stream finishes what was consumed before partitions move, so a clean hand-over
neither loses nor repeats a record; and the runner's garbage-collector
setting is undone when it stops."""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid

import polars as pl
import pytest

import kit
from kit.runtime.chain import Step
from kit.runtime.polars_step import PolarsStepRunner, _fewer_collections
from kit.runtime.status import StepStatus


def slow_copy(df: pl.DataFrame) -> pl.DataFrame:
    # Batches stay in flight longer than the group takes to rebalance: a
    # member that let its partitions go without finishing them would have its
    # late commits land after the new owner read the old ones (measured:
    # 4,000 duplicates of 20,000 without the hand-over).
    time.sleep(1.5)
    return df.with_columns(j=pl.col("i") + 1)


def _runner(
    conn: kit.Connection, source: str, sink: str, group: str, stop: threading.Event
) -> tuple[PolarsStepRunner, StepStatus]:
    status = StepStatus("copy", "polars", source, sink, conn.guarantee)
    step = Step("copy", "polars", source, sink, slow_copy, batch_size=2_000)
    return PolarsStepRunner(
        step, conn.settings, group=group, stop=stop, status=status
    ), status


@pytest.mark.slow
def test_a_rebalance_mid_stream_neither_loses_nor_repeats(
    connection: kit.Connection,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"rb-in-{suffix}", f"rb-out-{suffix}"
    connection.create_topic(source, partitions=4)
    connection.create_topic(sink, partitions=4)
    n = 20_000
    producer = connection.producer()
    for i in range(n):
        producer.produce(source, value=json.dumps({"i": i}).encode(), partition=i % 4)
    producer.flush(30)
    group = f"rb-{suffix}"
    stop = threading.Event()
    first, first_status = _runner(connection, source, sink, group, stop)
    second, second_status = _runner(connection, source, sink, group, stop)
    errors: list[BaseException] = []

    def run(runner: PolarsStepRunner) -> None:
        try:
            runner.run()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
    threads[0].start()
    deadline = time.monotonic() + 30
    while first_status.records_out < 2_000:
        assert time.monotonic() < deadline and not errors, errors
        time.sleep(0.01)
    threads[1].start()  # joins the group: the first member's partitions move
    deadline = time.monotonic() + 120
    while first_status.records_out + second_status.records_out < n:
        assert time.monotonic() < deadline and not errors, (
            first_status.records_out,
            second_status.records_out,
            errors,
        )
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert second_status.records_in > 0  # the hand-over happened mid-stream
    out = kit.read(sink, connection=connection)
    try:
        assert out.height == n, f"{out.height} outputs for {n} inputs"
        assert sorted(out["i"].to_list()) == list(range(n))
        assert (out["j"] == out["i"] + 1).all()
    finally:
        connection.delete_topics([source, sink])


def test_fewer_collections_nests_and_restores_the_threshold() -> None:
    before = gc.get_threshold()
    with _fewer_collections():
        raised = gc.get_threshold()
        with _fewer_collections():  # a second step in the same process
            assert gc.get_threshold() == raised
        assert gc.get_threshold() == raised
    assert raised[0] >= 50_000 and raised[1:] == before[1:]
    assert gc.get_threshold() == before


@pytest.mark.slow
def test_the_exactly_once_path_commits_offsets_in_its_transactions(
    connection: kit.Connection,
) -> None:
    """The transactional code path (used where the probe finds transactions
    honoured) end to end. Tansu accepts the transactional API without
    honouring it, so this checks the mechanics, not the guarantee: every
    output is produced, the input offsets are committed through the
    transactions (a restart reads nothing), nothing fails."""
    import dataclasses

    from confluent_kafka import Consumer, TopicPartition

    settings = dataclasses.replace(connection.settings, transactions=True)
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"tx-in-{suffix}", f"tx-out-{suffix}"
    connection.create_topic(source, partitions=2)
    connection.create_topic(sink, partitions=2)
    n = 5_000
    producer = connection.producer()
    for i in range(n):
        producer.produce(source, value=json.dumps({"i": i}).encode(), partition=i % 2)
    producer.flush(30)
    group = f"tx-{suffix}"

    def run(wait_for: int, seconds: float) -> StepStatus:
        stop = threading.Event()
        status = StepStatus("double", "polars", source, sink, settings.guarantee)
        step = Step(
            "double", "polars", source, sink,
            lambda df: df.with_columns(j=pl.col("i") * 2), batch_size=1_000,
        )  # fmt: skip
        runner = PolarsStepRunner(step, settings, group=group, stop=stop, status=status)
        errors: list[BaseException] = []
        thread = threading.Thread(
            target=lambda: _capture(runner.run, errors), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + seconds
        while status.records_out < wait_for and time.monotonic() < deadline:
            assert not errors, errors
            time.sleep(0.05)
        stop.set()
        thread.join(30)
        assert not errors, errors
        return status

    try:
        first = run(n, 60)
        assert first.guarantee == "exactly-once" and first.records_out == n
        out = kit.read(sink, connection=connection)
        assert out.height == n and out["i"].n_unique() == n
        assert (out["j"] == out["i"] * 2).all()
        consumer = Consumer(connection.settings.consumer_config(**{"group.id": group}))
        committed = consumer.committed(
            [TopicPartition(source, 0), TopicPartition(source, 1)], timeout=10
        )
        consumer.close()
        assert sorted(tp.offset for tp in committed) == [n // 2, n // 2]
        again = run(1, 4)  # a restart finds nothing left to do
        assert again.records_in == 0
    finally:
        connection.delete_topics([source, sink])


def _capture(target: object, errors: list[BaseException]) -> None:
    try:
        target()  # type: ignore[operator]
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)
