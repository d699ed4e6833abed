"""The parity test an export writes: a sample of the raw input records (bad
ones included), what the notebook's steps make of it, and what the dead-letter
topics must get.

The sample runs through the same code the service runs: the runtime's
decoder (schema contract, bad records), each step's function from the code
generator, ``run_batch`` (records a Polars step fails on become dead letters)
and the runtime's encoder (the input's shape). The generated
``test_service.py`` replays the raw records into fresh topics, runs
``main.py`` and compares what it writes with the expected files: outputs
(after de-duplication by record identity) and dead letters, record for
record.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from .chain.capture import Chain
    from .chain.step import CellStep
    from .connection import Connection

__all__ = ["Samples", "record_samples", "write_parity"]


@dataclass
class Samples:
    """What an export's parity test checks, by topic."""

    #: input topic -> raw records: {"key", "timestamp", "value" | "value_b64"}
    inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: output topic -> the values the steps write (JSON text)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    #: dead-letter topic -> the raw values it gets (bytes)
    dead: dict[str, list[bytes]] = field(default_factory=dict)
    #: Polars step -> the nested schema of its input's values (schema.json)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Stage:
    """A step's input as the sample has it: the frame (good records), the raw
    value of each row, and the values' nested schema."""

    frame: pl.DataFrame
    raw: list[bytes]
    shape: dict[str, Any]
    topic_input: bool = True  # read from a topic (not a step's output)


def record_samples(
    chain: Chain, steps: list[CellStep], *, connection: Connection, rows: int = 1000
) -> Samples:
    """Read the newest ``rows`` raw records of the chain's input topics and
    run ``steps`` on them as the service would."""
    from .chain.prototype import namespace
    from .chain.step import ChainError
    from .io.read import read_messages
    from .runtime.chain import DLQ_SUFFIX
    from .runtime.decode import ERROR, Decoder
    from .runtime.messages import frame_from_messages

    samples = Samples()
    stages: dict[str, _Stage] = {}  # step name -> what it wrote
    ns = namespace(chain, steps)
    for step in steps:
        upstream = stages.get(step.input)
        if upstream is None:
            topic = chain.topic_of(step.input)
            messages = read_messages(topic, last=rows, connection=connection)
            samples.inputs.setdefault(topic, [_record(m) for m in messages])
            decoder = Decoder()
            frame = frame_from_messages(messages, decoder)
            bad = frame[ERROR].is_not_null().to_list()
            values = [m.value() or b"" for m in messages]
            if step.kind == "polars":
                dead = samples.dead.setdefault(topic + DLQ_SUFFIX, [])
                dead.extend(v for v, b in zip(values, bad, strict=True) if b)
            good = [v for v, b in zip(values, bad, strict=True) if not b]
            stage = _Stage(
                frame.filter(~frame[ERROR].is_not_null()).drop(ERROR), good, decoder.raw
            )
        else:
            stage = upstream
        if step.kind == "polars":
            samples.schemas[step.name] = stage.shape
            dlq = samples.dead.setdefault(chain.topic_of(step.input) + DLQ_SUFFIX, [])
            stages[step.name] = _polars(step, ns, stage, dlq)
        else:
            if stage.frame.height == 0:
                raise ChainError(
                    f"Step {step.name!r}: its input has no records to sample."
                )
            stages[step.name] = _quix(step, ns, stage, connection)
        samples.outputs[chain.output_topic(step)] = [
            v.decode() for v in stages[step.name].raw
        ]
    return samples


def _polars(
    step: CellStep, ns: dict[str, Any], stage: _Stage, dead: list[bytes]
) -> _Stage:
    """Run a Polars step on a stage as the runtime does (the records it fails
    on go to ``dead``)."""
    from .chain.prototype import compile_step
    from .runtime.batch import run_batch
    from .runtime.encode import encode_values, output_schema

    func = compile_step(step, ns)
    output, failed = run_batch(func, stage.frame)
    dead.extend(stage.raw[i] for i, _reason in failed)
    written = [v.encode() for v in encode_values(output, stage.shape)]
    shape = output_schema(output.schema, stage.shape)
    return _Stage(output, written, shape, topic_input=False)


def _quix(
    step: CellStep, ns: dict[str, Any], stage: _Stage, connection: Connection
) -> _Stage:
    from .chain.prototype import _run_quix

    # Its values as Quix writes them live (a None is "k": null), not
    # re-encoded the way a Polars step's output is.
    output, shape, values = _run_quix(
        step, ns, stage.frame, stage.shape, connection=connection,
        topic_input=stage.topic_input,
    )  # fmt: skip
    return _Stage(output, [v.encode() for v in values], shape, topic_input=False)


def _record(message: Any) -> dict[str, Any]:
    """A raw record for the sample file (text where it is, else base64)."""
    key, value = message.key(), message.value() or b""
    record: dict[str, Any] = {
        "key": None if key is None else key.decode(errors="replace"),
        "timestamp": message.timestamp()[1],
        "partition": message.partition(),
    }
    try:
        record["value"] = value.decode()
    except UnicodeDecodeError:
        record["value_b64"] = base64.b64encode(value).decode()
    return record


def write_parity(out: Path, samples: Samples, variables: dict[str, str]) -> None:
    """Write ``parity/`` (JSON Lines) and ``test_service.py`` into ``out``."""
    folder = out / "parity"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.jsonl"):
        old.unlink()
    for topic, records in samples.inputs.items():
        (folder / f"input.{variables[topic]}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records)
        )
    for topic, values in samples.outputs.items():
        (folder / f"expected.{variables[topic]}.jsonl").write_text(
            "".join(v + "\n" for v in values)
        )
    for topic, raw in samples.dead.items():
        if not raw:
            continue
        name = variables[topic.removesuffix(".dlq")]
        (folder / f"dead.{name}.jsonl").write_text(
            "".join(json.dumps(_text_or_b64(v)) + "\n" for v in raw)
        )
    (out / "test_service.py").write_text(TEST_TEMPLATE.read_text())


def _text_or_b64(value: bytes) -> dict[str, str]:
    try:
        return {"value": value.decode()}
    except UnicodeDecodeError:
        return {"value_b64": base64.b64encode(value).decode()}


#: The generated test: kit/_parity_template.py, a real (linted, typed) file.
TEST_TEMPLATE = Path(__file__).with_name("_parity_template.py")
