"""Real Apache Kafka as the kit's second engine: `kit broker start --engine
kafka` (KRaft, assembled from Maven Central once), exactly-once found by the
probe, data kept across restarts, a 3-node cluster, clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import kit
from kit import _broker
from kit._errors import BrokerError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("java") is None or shutil.which("mvn") is None,
        reason="real Kafka needs Java 17 and Maven",
    ),
]


def _kit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kit.cli", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_kafka_starts_honours_transactions_and_keeps_data(private_state: Path) -> None:
    started = _kit("broker", "start", "--engine", "kafka")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Apache Kafka started at 127.0.0.1:" in started.stdout
    info = _broker.running()
    assert info is not None and info.engine == "kafka"
    conn = kit.connect()
    assert conn.profile == "kafka" and conn.guarantee == "exactly-once"
    assert "embedded Apache Kafka" in conn.describe()
    conn.create_topic("kept", partitions=2)
    producer = conn.producer()
    for i in range(500):
        producer.produce("kept", b'{"i": %d}' % i)
    producer.flush(10)
    status = _kit("broker", "status")
    assert "engine   kafka" in status.stdout and "kafka/cluster-1" in status.stdout
    pid = info.pid
    assert _kit("broker", "stop").returncode == 0
    assert (
        not psutil.pid_exists(pid)
        or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    )
    again = _kit("broker", "start", "--engine", "kafka")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "assembling" not in again.stdout  # the jars were fetched once
    frame = kit.read("kept", connection=kit.connect())
    assert sorted(frame["i"].to_list()) == list(range(500))  # data survived


def test_a_three_node_cluster_replicates(private_state: Path) -> None:
    info, started = _broker.start(engine="kafka", brokers=3)
    assert started and len(info.pids) == 3
    conn = kit.connect()
    conn.create_topic("replicated", partitions=3)
    admin = conn.admin()
    topic = admin.list_topics("replicated", timeout=10).topics["replicated"]
    assert all(len(p.replicas) == 3 for p in topic.partitions.values())
    assert conn.guarantee == "exactly-once"


def test_missing_java_is_one_clear_sentence(
    private_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    with pytest.raises(
        BrokerError, match=r"needs 'mvn', which is not installed: install Apache Maven"
    ):
        _broker.start(engine="kafka")
    with pytest.raises(BrokerError, match=r"not an engine; choose one of tansu, kafka"):
        _broker.start(engine="redpanda")


KILLED_MID_TRANSACTION = """
import sys, time
from confluent_kafka import Producer
from kit.runtime.polars_step import TRANSACTION_TIMEOUT_MS
producer = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "killed-1",
                     "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS})
producer.init_transactions(30)
producer.begin_transaction()
producer.produce("txn", b"never committed", partition=0)
producer.flush(10)
print("open", flush=True)
time.sleep(600)
"""


def test_a_producer_killed_mid_transaction_holds_readers_only_for_the_timeout(
    private_state: Path,
) -> None:
    """The kit's transactional producers set a 10 s transaction timeout: a
    service killed with a transaction open holds read_committed readers of
    that partition back for about that long, then its records are aborted."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    info, _ = _broker.start(engine="kafka")
    conn = kit.connect()
    conn.create_topic("txn", partitions=1)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_MID_TRANSACTION, info.address],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "open"
    child.kill()
    child.wait()
    child.stdout.close()
    killed = time.monotonic()
    producer = conn.producer()
    producer.produce("txn", b"after", partition=0)
    producer.flush(10)
    reader = Consumer(
        {"bootstrap.servers": info.address, "group.id": "reader",
         "isolation.level": "read_committed", "enable.auto.commit": False}
    )  # fmt: skip
    reader.assign([TopicPartition("txn", 0, 0)])
    seen = []
    try:
        while time.monotonic() - killed < 60 and b"after" not in seen:
            message = reader.poll(0.5)
            if message is not None and not message.error():
                seen.append(message.value())
    finally:
        reader.close()
    waited = time.monotonic() - killed
    print(f"read_committed reader held back {waited:.1f} s by the killed transaction")
    assert seen == [b"after"], seen  # the open transaction's record: aborted
    assert waited < 10 + 5, waited  # the timeout, and the broker's check (1 s)


def test_a_chain_rides_out_a_restart_of_its_kafka_broker(
    private_state: Path, tmp_path: Path
) -> None:
    """The broker stops under a running Polars + Quix chain (exactly-once):
    the steps show it, and once the same cluster is back they go on from
    their committed offsets: every record once, none lost, none twice."""
    import polars as pl

    from kit import process
    from kit.runtime.service import UNREACHABLE
    from tests.runtime.test_broker_down import TOPICS, chain_folder, states, until

    _broker.start(engine="kafka")
    conn = kit.connect()
    assert conn.guarantee == "exactly-once"
    for topic in TOPICS:
        conn.create_topic(topic, partitions=2)
    service = process.start_service(
        chain_folder(tmp_path / "svc"), name="bd", connection=conn
    )

    def replay(values: range) -> None:
        frame = pl.DataFrame({"k": [f"k{v % 7}" for v in values], "v": list(values)})
        kit.replay(
            frame, "raw", speed=None, key="k", progress=False, connection=conn
        ).wait(60)

    def marked() -> pl.DataFrame:
        return kit.read("marked", connection=kit.connect(), progress=False, idle=1.0)

    try:
        process.wait_running(service, timeout=60)
        replay(range(300))
        until(lambda: marked().height >= 300, lambda: service.status(), 60)
        _broker.stop()
        until(lambda: states(service) == [UNREACHABLE] * 2, lambda: states(service))
        assert service.alive
        _broker.start(engine="kafka")
        until(lambda: states(service) == ["running"] * 2, lambda: states(service), 90)
        replay(range(300, 600))
        until(lambda: marked().height >= 600, lambda: service.status(), 90)
        time.sleep(2)  # nothing more comes: no record twice
        got = marked()
        assert sorted(got["v2"].to_list()) == [2 * v for v in range(600)]
        assert got["seen"].all() and service.alive
    finally:
        process.stop_service("bd")
