"""The capability probe: what this broker really honours, measured.

The probe writes to a throw-away topic and checks three things that decide
how the kit must behave:

* ``transactions``: an aborted transactional write is invisible to a
  ``read_committed`` reader (only then is exactly-once used);
* ``watermarks``: the high watermark counts every record of a multi-record
  batch (only then are "read to the end" and message counts taken from it);
* ``config_defaults``: describe_configs reports default topic configs
  (quixstreams needs ``retention.ms`` for changelog topics);
* ``time_index``: looking up offsets by timestamp works (reads by time use
  it, or else search the partition themselves).

On the embedded Tansu broker all four are ``False``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Capabilities", "probe_capabilities"]


@dataclass(frozen=True)
class Capabilities:
    """What a broker was measured to honour."""

    transactions: bool
    watermarks: bool
    config_defaults: bool
    time_index: bool = False

    def as_dict(self) -> dict[str, bool]:
        return asdict(self)

    @property
    def guarantee(self) -> str:
        """The strongest processing guarantee the kit can give here."""
        return "exactly-once" if self.transactions else "at-least-once"


def probe_capabilities(
    client_config: dict[str, Any],
    *,
    topic_config: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> Capabilities:
    """Measure what the broker honours, on a temporary topic that is deleted.

    Args:
        client_config: confluent-kafka settings (``bootstrap.servers``...).
        topic_config: extra configs for the probe topic.
        timeout: seconds allowed for each network step.
    """
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient(dict(client_config))
    topic = f"__kit_probe_{uuid.uuid4().hex[:12]}"
    new = NewTopic(topic, num_partitions=2, replication_factor=1)
    admin.create_topics([new], operation_timeout=timeout)[topic].result(timeout)
    try:
        _wait_for_topic(admin, topic, timeout)
        resource = ConfigResource("TOPIC", topic)
        configs = _retry(
            lambda: admin.describe_configs([resource])[resource].result(timeout),
            timeout,
        )
        config_defaults = "retention.ms" in configs
        if topic_config:
            _set_topic_config(admin, topic, topic_config, timeout)
        watermarks, time_index = _probe_offsets(client_config, topic, timeout)
        transactions = _probe_transactions(client_config, topic, timeout)
    finally:
        admin.delete_topics([topic], operation_timeout=timeout)
    return Capabilities(
        transactions=transactions,
        watermarks=watermarks,
        config_defaults=config_defaults,
        time_index=time_index,
    )


def _wait_for_topic(admin: Any, topic: str, timeout: float) -> None:
    """Until every partition of a new topic has a leader (on a cluster, the
    other nodes learn of it a moment after the one that created it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = admin.list_topics(topic, timeout=timeout).topics.get(topic)
        ready = found is not None and found.error is None and found.partitions
        if ready and all(p.leader >= 0 for p in found.partitions.values()):
            return
        time.sleep(0.1)


def _retry(call: Any, timeout: float) -> Any:
    """``call()``, again while the broker says the topic is not known yet."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _set_topic_config(
    admin: Any, topic: str, config: dict[str, str], timeout: float
) -> None:
    from confluent_kafka.admin import (
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
    )

    entries = [
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
        for k, v in config.items()
    ]
    resource = ConfigResource("TOPIC", topic, incremental_configs=entries)
    admin.incremental_alter_configs([resource])[resource].result(timeout)


def _probe_offsets(
    client_config: dict[str, Any], topic: str, timeout: float
) -> tuple[bool, bool]:
    """Ten records, one second apart, in one batch.

    Does the high watermark say 10, and does the time lookup find record 6?
    """
    from confluent_kafka import Consumer, Producer, TopicPartition

    base = int(time.time() * 1000) - 60_000
    producer = Producer({**client_config, "linger.ms": 200})
    for i in range(10):
        producer.produce(topic, b"%d" % i, partition=0, timestamp=base + i * 1000)
    producer.flush(timeout)
    consumer = Consumer({**client_config, "group.id": f"{topic}-wm"})
    try:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, 0), timeout=timeout
        )
        found = consumer.offsets_for_times(
            [TopicPartition(topic, 0, base + 5500)], timeout=timeout
        )
    finally:
        consumer.close()
    return high == 10, found[0].offset == 6


def _probe_transactions(
    client_config: dict[str, Any], topic: str, timeout: float
) -> bool:
    """Abort one transactional write, commit a marker; is the aborted one hidden?"""
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

    producer = Producer(
        {**client_config, "transactional.id": f"{topic}-txn", "linger.ms": 0}
    )
    try:
        producer.init_transactions(timeout)
        producer.begin_transaction()
        producer.produce(topic, b"aborted", partition=1)
        producer.flush(timeout)
        producer.abort_transaction(timeout)
        producer.begin_transaction()
        producer.produce(topic, b"committed", partition=1)
        producer.commit_transaction(timeout)
    except KafkaException:
        return False
    consumer = Consumer(
        {
            **client_config,
            "group.id": f"{topic}-txn",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    seen: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 1, 0)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and b"committed" not in seen:
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                seen.append(message.value())
    finally:
        consumer.close()
    # A broker that blocks read_committed readers (the marker never shows)
    # does not honour transactions either.
    return b"committed" in seen and b"aborted" not in seen
