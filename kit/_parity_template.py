"""Parity test, generated at export: the service, fed the raw input records
sampled from the notebook's topics (bad ones included), writes what the
notebook's steps wrote from them, and dead-letters exactly the records the
notebook found bad (``parity/``: input.*, expected.*, dead.*).

Needs a broker: KIT_BROKER=host:port pytest test_service.py
(KIT_PROFILE=local for a Tansu broker). Topics get fresh names per run.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).parent
PARITY = HERE / "parity"
TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
LIVE_PARTITIONS = 4

pytestmark = pytest.mark.skipif(
    not os.environ.get("KIT_BROKER"), reason="set KIT_BROKER to run the parity test"
)


def _raw(record: dict[str, Any]) -> bytes:
    if "value_b64" in record:
        return base64.b64decode(record["value_b64"])
    return str(record["value"]).encode()


def _canonical(text: str | bytes) -> str:
    return json.dumps(json.loads(text), sort_keys=True)


def _lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _read(broker: str, topic: str, want: int, *, dedupe: bool) -> list[bytes]:
    """Records of ``topic`` (all partitions) until ``want`` came and 1 s more
    brought nothing (or 90 s passed)."""
    consumer = Consumer(
        {"bootstrap.servers": broker, "group.id": f"check-{uuid.uuid4().hex}",
         "enable.auto.commit": False}
    )  # fmt: skip
    count = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in range(count)])
    got: list[bytes] = []
    seen: set[Any] = set()
    deadline = time.monotonic() + 90
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                if len(got) >= want and time.monotonic() - quiet_since > 1.0:
                    break
                continue
            quiet_since = time.monotonic()
            identity = dict(message.headers() or []).get("kit-id")
            if dedupe and identity is not None:
                if identity in seen:
                    continue  # a duplicate from an at-least-once replay
                seen.add(identity)
            got.append(message.value() or b"")
    finally:
        consumer.close()
    return got


def test_service_reproduces_the_notebook(tmp_path: Path) -> None:
    broker = os.environ["KIT_BROKER"]
    suffix = uuid.uuid4().hex[:8]
    steps_source = (HERE / "steps.py").read_text()
    variables = sorted(
        {
            line.split("topic(")[1].split(",")[0].strip("'\" ")
            for line in steps_source.splitlines()
            if "topic('TOPIC_" in line
        }
    )
    topics = {
        var: f"parity-{var.lower().replace('_', '-')}-{suffix}" for var in variables
    }
    dead = {p.name.split(".")[1]: p for p in PARITY.glob("dead.*.jsonl")}
    names = [*topics.values(), *(topics[var] + ".dlq" for var in dead)]
    # Inputs get the partitions their records came from (arrival order kept);
    # the others as many as a live run gives them.
    partitions = dict.fromkeys(topics.values(), LIVE_PARTITIONS)
    partitions.update(dict.fromkeys((t for t in names if t.endswith(".dlq")), 1))
    for path in PARITY.glob("input.*.jsonl"):
        records = _lines(path)
        topic = topics[path.name.split(".")[1]]
        partitions[topic] = 1 + max(
            (r.get("partition") or 0 for r in records), default=0
        )
    admin = AdminClient({"bootstrap.servers": broker})
    new = [NewTopic(t, partitions[t], 1, config=TOPIC_CONFIG) for t in names]
    for future in admin.create_topics(new).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker})
    for path in PARITY.glob("input.*.jsonl"):
        topic = topics[path.name.split(".")[1]]
        for record in _lines(path):
            producer.produce(
                topic, key=record["key"], value=_raw(record),
                partition=record.get("partition") or 0,
                timestamp=record["timestamp"] or 0,
            )  # fmt: skip
    producer.flush(30)
    env = {**os.environ, **topics, "KIT_GROUP": f"parity-{suffix}",
           "KIT_STATE_DIR_SERVICE": str(tmp_path / "state")}  # fmt: skip
    service = subprocess.Popen([sys.executable, "main.py"], cwd=HERE, env=env)
    try:
        for path in sorted(PARITY.glob("expected.*.jsonl")):
            expected = Counter(_canonical(v) for v in path.read_text().splitlines())
            topic = topics[path.name.split(".")[1]]
            got = _read(broker, topic, sum(expected.values()), dedupe=True)
            assert Counter(_canonical(v) for v in got) == expected, (
                f"{topic}: the service and the notebook differ"
            )
        for var, path in sorted(dead.items()):
            expected_dead = Counter(_raw(r) for r in _lines(path))
            got = _read(
                broker, topics[var] + ".dlq", sum(expected_dead.values()), dedupe=True
            )
            assert Counter(got) == expected_dead, (
                f"{topics[var]}.dlq: the service dead-lettered other records than the notebook"
            )
        assert service.poll() is None, "the service stopped"
    finally:
        service.terminate()
        service.wait(30)
        internal = [  # the service's changelog and repartition topics too
            t for t in admin.list_topics(timeout=10).topics if f"__parity-{suffix}" in t
        ]
        admin.delete_topics([*names, *internal])
