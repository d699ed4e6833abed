"""The parity test an export writes: sample input recorded at export time,
and what the notebook's prototypes produced from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from .chain.capture import Chain
    from .chain.step import CellStep
    from .connection import Connection

__all__ = ["record_samples", "write_parity"]


def record_samples(
    chain: Chain, steps: list[CellStep], *, connection: Connection, rows: int = 1000
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """Prototype every step on a fresh snapshot: (inputs by topic, outputs by topic)."""
    from .chain.prototype import Prototype, run_prototype

    cache: dict[str, Prototype] = {}
    inputs: dict[str, pl.DataFrame] = {}
    outputs: dict[str, pl.DataFrame] = {}
    for step in steps:
        prototype = run_prototype(
            chain, step, connection=connection, rows=rows, cache=cache
        )
        if step.input not in chain.steps:
            inputs.setdefault(chain.topic_of(step.input), prototype.input)
        outputs[chain.output_topic(step)] = prototype.output
    return inputs, outputs


def write_parity(
    out: Path,
    inputs: dict[str, pl.DataFrame],
    outputs: dict[str, pl.DataFrame],
    variables: dict[str, str],
) -> None:
    """Write ``parity/`` (JSON Lines) and ``test_service.py`` into ``out``."""

    folder = out / "parity"
    folder.mkdir(exist_ok=True)
    for topic, frame in inputs.items():
        lines = []
        fields = [c for c in frame.columns if not c.startswith("_")]
        stamps = (
            frame["_timestamp"].dt.epoch("ms").to_list()
            if "_timestamp" in frame.columns
            else [None] * frame.height
        )
        keys = (
            frame["_key"].to_list()
            if "_key" in frame.columns
            else [None] * frame.height
        )
        values = _json_rows(frame, fields)
        for key, stamp, value in zip(keys, stamps, values, strict=True):
            lines.append(
                json.dumps({"key": key, "timestamp": stamp, "value": json.loads(value)})
            )
        (folder / f"input.{variables[topic]}.jsonl").write_text("\n".join(lines) + "\n")
    for topic, frame in outputs.items():
        fields = [c for c in frame.columns if not c.startswith("_")]
        encoded = _json_rows(frame, fields)
        (folder / f"expected.{variables[topic]}.jsonl").write_text(
            "".join(v + "\n" for v in encoded)
        )
    (out / "test_service.py").write_text(TEST_SERVICE)


def _json_rows(frame: pl.DataFrame, fields: list[str]) -> list[str]:
    import polars as pl

    if not fields:
        return ["{}"] * frame.height
    column = frame.select(pl.struct(fields).struct.json_encode().alias("v"))["v"]
    rows: list[str] = column.to_list()
    return rows


TEST_SERVICE = '''\
"""Parity test, generated at export: the service, fed the sample input recorded
from the notebook, writes what the notebook's prototypes wrote.

Needs a broker: KIT_BROKER=host:port pytest test_service.py
(KIT_PROFILE=local for a Tansu broker). Topics get fresh names per run.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).parent
PARITY = HERE / "parity"

pytestmark = pytest.mark.skipif(
    not os.environ.get("KIT_BROKER"), reason="set KIT_BROKER to run the parity test"
)


def _canonical(value):
    return json.dumps(value, sort_keys=True)


def test_service_reproduces_the_notebook(tmp_path):
    broker = os.environ["KIT_BROKER"]
    suffix = uuid.uuid4().hex[:8]
    steps_source = (HERE / "steps.py").read_text()
    variables = sorted({
        line.split("topic(")[1].split(",")[0].strip("'\\" ")
        for line in steps_source.splitlines() if "topic('TOPIC_" in line
    })
    topics = {var: f"parity-{var.lower().replace('_', '-')}-{suffix}" for var in variables}
    admin = AdminClient({"bootstrap.servers": broker})
    new = [NewTopic(t, 1, 1, config={"retention.ms": "-1", "retention.bytes": "-1"})
           for t in topics.values()]
    for future in admin.create_topics(new).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": broker})
    for path in PARITY.glob("input.*.jsonl"):
        topic = topics[path.name.split(".")[1]]
        for line in path.read_text().splitlines():
            record = json.loads(line)
            producer.produce(topic, key=record["key"], value=json.dumps(record["value"]),
                             timestamp=record["timestamp"] or 0)
    producer.flush(30)
    env = {**os.environ, **topics, "KIT_GROUP": f"parity-{suffix}",
           "KIT_STATE_DIR_SERVICE": str(tmp_path / "state")}
    service = subprocess.Popen([sys.executable, "main.py"], cwd=HERE, env=env)
    try:
        for path in PARITY.glob("expected.*.jsonl"):
            expected = Counter(_canonical(json.loads(v)) for v in path.read_text().splitlines())
            topic = topics[path.name.split(".")[1]]
            got, seen = Counter(), set()
            consumer = Consumer({"bootstrap.servers": broker, "group.id": f"check-{suffix}",
                                 "enable.auto.commit": False})
            consumer.assign([TopicPartition(topic, 0, 0)])
            deadline = time.monotonic() + 90
            while sum(got.values()) < sum(expected.values()) and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                identity = dict(message.headers() or []).get("kit-id")
                if identity is not None and identity in seen:
                    continue  # a duplicate from an at-least-once replay
                seen.add(identity)
                value = json.loads(message.value())
                got[_canonical({k: v for k, v in value.items() if k in _fields(expected)})] += 1
            consumer.close()
            assert got == expected, f"{topic}: service and notebook differ"
    finally:
        service.terminate()
        service.wait(30)
        admin.delete_topics(list(topics.values()))


def _fields(expected):
    first = next(iter(expected))
    return set(json.loads(first))
'''
