"""The files of an exported service folder besides its code: requirements,
dockerfile, Quix ``app.yaml``/``quix.yaml``, ``.env.example`` and README
(see :mod:`kit._export`)."""

from __future__ import annotations

import importlib.metadata
import re
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .chain.capture import Chain
    from .chain.step import CellStep

__all__ = [
    "app_yaml",
    "dockerfile",
    "env_example",
    "quix_yaml",
    "readme",
    "requirements",
    "topic_variable",
]

BASE_REQUIREMENTS = ("quixstreams", "polars", "confluent-kafka")


def topic_variable(topic: str) -> str:
    """The environment variable naming a topic in the service.

    >>> topic_variable("telemetry.clean-v2")
    'TOPIC_TELEMETRY_CLEAN_V2'
    """
    return "TOPIC_" + re.sub(r"[^A-Za-z0-9]+", "_", topic).strip("_").upper()


def requirements(imports: list[str]) -> str:
    """Exact versions of this environment for the runtime and the steps' imports."""
    names = list(BASE_REQUIREMENTS)
    modules = {
        line.split()[1].split(".")[0]
        for line in imports
        if line.startswith(("import ", "from "))
    } - {"kit", "kit_runtime"}  # the runtime ships in the folder
    distributions = importlib.metadata.packages_distributions()
    for module in sorted(modules):
        for dist in distributions.get(module, []):
            if dist.lower() not in {n.lower() for n in names}:
                names.append(dist)
    lines = []
    for dist in names:
        try:
            lines.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    try:  # what the service's README runs its parity test with
        lines.append(
            f"pytest=={importlib.metadata.version('pytest')}  # test_service.py"
        )
    except importlib.metadata.PackageNotFoundError:
        lines.append("pytest  # test_service.py")
    return "\n".join(lines) + "\n"


def dockerfile() -> str:
    return textwrap.dedent(
        """\
        FROM python:3.11-slim
        ENV PYTHONUNBUFFERED=1
        WORKDIR /app
        COPY requirements.txt .
        RUN pip install --no-cache-dir -r requirements.txt
        COPY . .
        ENTRYPOINT ["python", "main.py"]
        """
    )


def app_yaml(name: str, inputs: list[str], outputs: list[str]) -> str:
    lines = [f"name: {name}", "language: python", "variables:"]
    for topic in inputs:
        lines += _variable(
            topic_variable(topic),
            "InputTopic",
            topic,
            f"Topic the chain reads ({topic})",
        )
    for topic in outputs:
        lines += _variable(
            topic_variable(topic),
            "OutputTopic",
            topic,
            f"Topic a step writes ({topic})",
        )
    lines += _variable(
        "KIT_BROKER",
        "FreeText",
        "",
        "Kafka bootstrap servers (not needed on Quix Cloud)",
    )
    lines += _variable(
        "KIT_SASL_PASSWORD", "HiddenText", "", "SASL password, if the broker needs one"
    )
    lines += [
        "dockerfile: dockerfile",
        "runEntryPoint: main.py",
        "defaultFile: main.py",
        "",
    ]
    return "\n".join(lines)


def _variable(name: str, kind: str, default: str, description: str) -> list[str]:
    return [
        f"  - name: {name}",
        f"    inputType: {kind}",
        f"    description: {description}",
        f"    defaultValue: {default!r}" if default else "    defaultValue: ''",
        "    required: false",
    ]


def env_example(inputs: list[str], outputs: list[str]) -> str:
    lines = [
        "KIT_BROKER=localhost:9092",
        "# KIT_PROFILE=kafka   (local for a Tansu broker)",
    ]
    lines += [f"{topic_variable(t)}={t}" for t in [*inputs, *outputs]]
    return "\n".join(lines) + "\n"


def quix_yaml(name: str, inputs: list[str], outputs: list[str], replicas: int) -> str:
    lines = [
        "# Quix Cloud pipeline entry for this service (merge into your project's quix.yaml)",
        "version: 1.1",
        "deployments:",
        f"  - name: {name}",
        "    application: .",
        "    version: latest",
        "    deploymentType: Service",
        "    resources:",
        "      cpu: 500",
        "      memory: 1000",
        f"      replicas: {replicas}",
        "    variables:",
    ]
    for topic in inputs:
        lines += [
            f"      - name: {topic_variable(topic)}",
            "        inputType: InputTopic",
            f"        value: {topic}",
        ]
    for topic in outputs:
        lines += [
            f"      - name: {topic_variable(topic)}",
            "        inputType: OutputTopic",
            f"        value: {topic}",
        ]
    lines += ["topics:"] + [f"  - name: {t}" for t in [*inputs, *outputs]]
    return "\n".join(lines) + "\n"


def readme(
    name: str,
    source: str,
    steps: list[CellStep],
    chain: Chain,
    inputs: list[str],
    outputs: list[str],
    replicas: int,
) -> str:
    rows = "\n".join(
        f"| `{s.name}` | {s.kind} | `{chain.topic_of(s.input)}` | `{chain.output_topic(s)}` |"
        for s in steps
    )
    variables = "\n".join(
        f"| `{topic_variable(t)}` | `{t}` |" for t in [*inputs, *outputs]
    )
    return f"""# {name}

A stream processing service exported from {source} by jupyter-streamkit.

| step | kind | reads | writes |
|---|---|---|---|
{rows}

## Run

    pip install -r requirements.txt
    KIT_BROKER=HOST:PORT python main.py        # KIT_PROFILE=local for a Tansu broker

or build the `dockerfile`, or deploy the folder to Quix Cloud (`app.yaml`).
Each topic is a variable (defaults in brackets):

| variable | default |
|---|---|
{variables}

Security: `KIT_SECURITY_PROTOCOL`, `KIT_SASL_MECHANISM`, `KIT_SASL_USERNAME`,
`KIT_SASL_PASSWORD`, `KIT_SSL_CA_LOCATION`. On Quix Cloud the broker comes
from `Quix__Broker__Address` or `Quix__Sdk__Token`.

## Guarantees

Offsets are committed only after every output is delivered. Set
`KIT_TRANSACTIONS=1` where the broker honours transactions to run exactly-once
(outputs and offsets in one transaction). Otherwise the guarantee is
at-least-once, and every output carries a `kit-id` header (the source
topic/partition/offset it came from): readers drop duplicates by it. Bad
records go to `<input>.dlq` with the reason in headers. SIGTERM finishes the
current batch, commits and exits 0.

## Scaling out

Run replicas with the same `KIT_GROUP` (default `kit-{name}`): they share the
input partitions between them, so **the input's partition count bounds the
parallelism** (4 partitions: at most 4 busy replicas). If a replica dies, the
others take over its partitions from the last commit. Replicas configured:
{replicas}.

## Parity test

`test_service.py` (when present) replays the sample input recorded at export
and checks the output equals what the notebook's prototypes produced:

    KIT_BROKER=HOST:PORT KIT_PROFILE=local pytest test_service.py
"""
