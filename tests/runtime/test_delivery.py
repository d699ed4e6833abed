"""Offsets are committed only after every output is delivered, however long
the broker is away (a flush that times out leaves records undelivered)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

import kit
from kit import _broker
from kit.runtime.delivery import DeliveryFailed, await_delivery

pytestmark = pytest.mark.slow


def _producer_with_undelivered_records(
    timeout_ms: int,
) -> tuple[Any, list[str], int]:
    """A producer holding 10 records for a broker that has just stopped."""
    info, _ = _broker.start()
    conn = kit.connect(info.address)
    conn.create_topic("outputs", partitions=1)
    failures: list[str] = []
    producer = conn.producer(
        message_timeout_ms=timeout_ms,
        on_delivery=lambda error, _m: error and failures.append(str(error)),
    )
    producer.produce("outputs", b"warm-up")
    assert producer.flush(10) == 0
    _broker.stop()
    for i in range(10):
        producer.produce("outputs", str(i).encode())
    return producer, failures, int(info.address.rsplit(":", 1)[1])


def test_waits_for_a_broker_that_comes_back(private_state: Path) -> None:
    producer, failures, port = _producer_with_undelivered_records(60_000)
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (await_delivery(producer, failures, "s", poll=0.2), done.set())
    )
    thread.start()
    time.sleep(3)  # many flush timeouts: still waiting, so nothing is committed
    assert not done.is_set()
    _broker.start(port=port)  # back (Tansu creates the topic on first produce)
    thread.join(30)
    assert done.is_set() and not failures and len(producer) == 0


def test_records_that_time_out_fail_the_checkpoint(private_state: Path) -> None:
    producer, failures, _port = _producer_with_undelivered_records(2_000)
    started = time.monotonic()
    with pytest.raises(DeliveryFailed, match="10 record\\(s\\) of step 's'"):
        await_delivery(producer, failures, "s", poll=0.2)
    assert time.monotonic() - started < 15
