"""kit.connect(): profiles, the capability probe, topics, unreachable brokers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kit
from kit._errors import BrokerUnreachable, ConfigurationError

from .conftest import ENGINE


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_first_record_within_two_seconds_of_start(
    private_state: Path, topic_name: str
) -> None:
    """connect → create topic → produce → consume (group) within 2 s of start."""
    started = time.monotonic()
    conn = kit.connect()  # starts the embedded broker in this state dir
    assert conn.embedded and conn.profile == "local"
    conn.create_topic(topic_name, partitions=2)
    producer = conn.producer()
    producer.produce(topic_name, key=b"k", value=b'{"v": 1}')
    producer.flush(5)
    consumer = conn.consumer(auto_offset_reset="earliest")
    consumer.subscribe([topic_name])
    try:
        message = None
        while time.monotonic() - started < 5 and message is None:
            candidate = consumer.poll(0.05)
            if candidate is not None and not candidate.error():
                message = candidate
        elapsed = time.monotonic() - started
    finally:
        consumer.close()
    assert message is not None and json.loads(message.value()) == {"v": 1}
    assert elapsed < 2.0, f"first record after {elapsed:.2f} s"


def test_the_probe_finds_what_the_test_broker_honours(
    connection: kit.Connection,
) -> None:
    caps = connection.capabilities
    if ENGINE == "kafka":  # real Kafka honours it all: the standard path
        assert connection.profile == "kafka" and connection.measured
        assert caps.transactions and caps.watermarks and caps.config_defaults
        assert connection.guarantee == "exactly-once"
        return
    assert connection.profile == "local" and connection.measured
    assert caps.transactions is False
    assert caps.watermarks is False
    assert caps.config_defaults is False
    assert connection.guarantee == "at-least-once"
    assert "does not honour transactions" in connection.describe()
    with pytest.raises(ValueError, match=r"exactly-once.*not available"):
        connection.application(processing_guarantee="exactly-once")


@pytest.mark.tansu
def test_tansu_is_recognised_by_what_it_reports(broker: object) -> None:
    """Connecting by address (not via the embedded record) still finds Tansu."""
    conn = kit.connect(broker.address)  # type: ignore[attr-defined]
    assert not conn.embedded
    # The embedded broker gets a new cluster id at every start (state_guard).
    assert conn.profile == "local" and str(conn.cluster_id).startswith("tansu-kit-")


def test_forced_kafka_profile_uses_stock_settings(broker: object) -> None:
    conn = kit.connect(broker.address, profile="kafka", probe=False)  # type: ignore[attr-defined]
    config = conn.settings.consumer_config()
    assert "session.timeout.ms" not in config
    assert conn.settings.topic_config() == {}


def test_bad_profile_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"'redis'.*local, kafka, quix"):
        kit.connect("127.0.0.1:1", profile="redis")  # type: ignore[arg-type]


def test_topics_counts_are_exact_despite_wrong_watermarks(
    connection: kit.Connection, topic: str
) -> None:
    producer = connection.producer(**{"linger.ms": 100})
    for i in range(1000):
        producer.produce(topic, value=b"%d" % i, partition=i % 2)
    producer.flush(10)
    listed = {t.name: t for t in connection.topics()}
    assert listed[topic].partitions == 2
    assert listed[topic].messages == 1000


def test_unreachable_broker_fails_fast_with_one_sentence() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(BrokerUnreachable) as info:
        kit.connect(address)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert address in message and "connection refused" in message
    assert "\n" not in message


def test_unreachable_broker_prints_no_log_storm_from_the_cli() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "kit.cli", "topics", "--broker", address],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
    )
    took = time.monotonic() - started
    assert result.returncode == 1
    assert took < 5, f"took {took:.1f} s"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: No Kafka broker answered at " + address)
    assert result.stdout == ""


_DELETE_UNDER_A_TAP = """
import sys, time
import kit
from kit.live.tap import Tap

conn = kit.connect(sys.argv[1])
topic = sys.argv[2]
producer = conn.producer()
producer.produce(topic, b'{"v": 1}')
producer.flush(10)
tap = Tap(topic, start="earliest", connection=conn).start()
while tap.total == 0:
    time.sleep(0.05)
conn.delete_topics([topic])
assert not tap.running
time.sleep(3)  # librdkafka would have crashed the process by now
print("alive")
"""


def test_deleting_a_topic_a_tap_reads_stops_the_tap_first(
    connection: kit.Connection, topic: str
) -> None:
    """On Tansu a consumer whose topic is deleted segfaults its process
    (librdkafka); delete_topics stops this process's taps on it first. Run in
    a child: a crash would take pytest down."""
    result = subprocess.run(
        [sys.executable, "-c", _DELETE_UNDER_A_TAP, str(connection.address), topic],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "alive" in result.stdout


def test_deleting_a_running_services_input_is_refused(
    connection: kit.Connection, tmp_path: Path
) -> None:
    import uuid

    from kit import process
    from kit._errors import KitError
    from kit._export import export_chain
    from kit.chain.capture import Chain
    from kit.chain.step import CellStep

    suffix = uuid.uuid4().hex[:8]
    source, sink = f"del-in-{suffix}", f"del-out-{suffix}"
    for name in (source, sink):
        connection.create_topic(name, partitions=1)
    chain = Chain()
    chain.add_step(CellStep("copy", "polars", source, sink, "df"))
    folder = export_chain(chain, tmp_path / "svc", name="svc", topics=[source, sink])
    name = f"del-{suffix}"
    service = process.start_service(folder, name=name, connection=connection)
    try:
        process.wait_running(service)
        with pytest.raises(KitError) as refused:
            connection.delete_topics([sink, source])
        message = str(refused.value)
        assert f"{source!r} is the input of step 'copy'" in message
        assert name in message and "%stream stop" in message
        assert service.alive  # nothing was deleted under it
        assert {source, sink} <= {t.name for t in connection.topics()}
    finally:
        process.stop_service(name)
    connection.delete_topics([source, sink])  # stopped: now allowed
    assert not {source, sink} & {t.name for t in connection.topics()}
