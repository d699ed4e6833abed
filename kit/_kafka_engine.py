"""Real Apache Kafka on 127.0.0.1: a second engine for ``kit broker start``.

Kafka 4.x in KRaft mode (no ZooKeeper, no Docker), one JVM per node, from
either an unpacked Apache distribution (``--kafka-home`` / ``KAFKA_HOME``:
its ``libs/*.jar``) or jars assembled from Maven Central with ``mvn`` once and
cached in the state directory (``kafka/<version>/libs``). Each node's data is
in the state directory (``kafka/data/node-<id>``), formatted once with the
cluster's id and kept across restarts. ``brokers=3`` starts a 3-node cluster
(every node a broker and a controller; replication factor 3,
``min.insync.replicas=2``) for fault tests.

Settings kept small for a 2-core laptop: ``-Xmx512m`` a node, few partitions
for the internal offsets and transaction topics, no initial rebalance delay,
and a short transaction timeout cap so a producer killed mid-transaction is
aborted quickly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import _logs, _state
from ._errors import BrokerError, BrokerUnreachable
from ._kafka import fetch_metadata

__all__ = ["KAFKA_VERSION", "KafkaNode", "distribution", "format_nodes", "start_nodes"]

#: The Kafka release assembled from Maven Central.
KAFKA_VERSION = "4.4.0"
#: A logging backend for the broker's SLF4J 1.x (Kafka's own jars bring the API).
_LOGGING = ("org.slf4j", "slf4j-reload4j", "2.0.17")

Echo = Callable[[str], None]


@dataclass
class KafkaNode:
    """One node of a local cluster: its broker and controller ports, data."""

    node_id: int
    port: int  # clients connect here
    controller_port: int
    data: Path
    config: Path
    log: Path


def _which(tool: str, purpose: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BrokerError(
            f"{purpose} needs {tool!r}, which is not installed: install "
            + (
                "a Java 17 runtime (e.g. `apt-get install openjdk-17-jre-headless`)"
                if tool == "java"
                else "Apache Maven (e.g. `apt-get install maven`), or pass "
                "--kafka-home DIR (an unpacked Apache Kafka 4.x tarball)"
            )
            + "."
        )
    return found


def distribution(
    kafka_home: str | os.PathLike[str] | None = None, *, echo: Echo = print
) -> Path:
    """The folder of Kafka's jars: ``kafka_home``'s (or ``KAFKA_HOME``'s)
    ``libs``, else the ones assembled from Maven Central (fetched once)."""
    home = kafka_home or os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home) / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise BrokerError(
                f"{home} is not an Apache Kafka distribution (no libs/kafka_2.13-*.jar); "
                "give the folder of an unpacked Kafka 4.x tarball, or none to "
                "assemble Kafka from Maven Central."
            )
        return libs
    root = _state.state_dir() / "kafka" / KAFKA_VERSION
    libs = root / "libs"
    if (root / "complete").exists():
        return libs
    mvn = _which("mvn", "Assembling Kafka from Maven Central")
    root.mkdir(parents=True, exist_ok=True)
    group, artifact, version = _LOGGING
    (root / "pom.xml").write_text(
        f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>jupyter-streamkit</groupId><artifactId>kafka-dist</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version></dependency>
  </dependencies>
</project>
"""
    )
    echo(
        f"kafka       assembling Apache Kafka {KAFKA_VERSION} from Maven Central (once)"
    )
    started = time.monotonic()
    result = subprocess.run(
        [mvn, "-B", "-q", "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
        cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        raise BrokerError(
            f"mvn could not fetch Kafka {KAFKA_VERSION} from Maven Central (exit "
            f"{result.returncode}): {(result.stdout + result.stderr).strip()[-600:]}"
        )
    jars = len(list(libs.glob("*.jar")))
    echo(f"kafka       {jars} jars in {libs} ({time.monotonic() - started:.0f} s)")
    (root / "complete").write_text(KAFKA_VERSION)
    return libs


def pick_port(
    taken: set[int], start: int, given: int | None, saved: list[int], index: int
) -> int:
    """A free port for a node: ``given``, else the one it had last time if
    free, else the next free one from ``start``; it joins ``taken``."""
    from ._ports import port_free

    candidates = [given] if given is not None else []
    if given is None and index < len(saved):
        candidates.append(saved[index])
    candidates += range(start, start + 500)
    for port in candidates:
        if (
            port is not None
            and port not in taken
            and port_free(port, reuse_address=True)
        ):
            taken.add(port)
            return port
    raise BrokerError(f"No free port from {start} on 127.0.0.1 for a Kafka node.")


def nodes(base: Path, ports: list[int], controller_ports: list[int]) -> list[KafkaNode]:
    return [
        KafkaNode(
            node_id=i + 1,
            port=port,
            controller_port=controller,
            data=base / "data" / f"node-{i + 1}",
            config=base / f"node-{i + 1}.properties",
            log=base / f"node-{i + 1}.log",
        )
        for i, (port, controller) in enumerate(
            zip(ports, controller_ports, strict=True)
        )
    ]


def _properties(node: KafkaNode, cluster: list[KafkaNode]) -> str:
    n = len(cluster)
    voters = ",".join(f"{c.node_id}@127.0.0.1:{c.controller_port}" for c in cluster)
    replication = min(n, 3)
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": node.data,
        "num.partitions": 4,
        "default.replication.factor": replication,
        "min.insync.replicas": 2 if n >= 3 else 1,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": 4,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": 2 if n >= 3 else 1,
        "transaction.state.log.num.partitions": 4,
        # A producer killed mid-transaction is aborted after its timeout: the
        # kit asks for 10 s; this caps what anyone may ask for.
        "transaction.max.timeout.ms": 60_000,
        # ... and is looked for every second (the default: every 10 s).
        "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1_000,
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "true",
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def format_nodes(libs: Path, cluster: list[KafkaNode], cluster_id: str) -> None:
    """Write each node's configuration; format its data folder once."""
    java = _which("java", "Real Kafka")
    for node in cluster:
        node.config.write_text(_properties(node, cluster))
        if (node.data / "meta.properties").exists():
            continue
        node.data.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(node.config), "--ignore-formatted"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise BrokerError(
                f"Kafka could not format {node.data}: {(result.stdout + result.stderr).strip()[-600:]}"
            )


def start_nodes(
    libs: Path, cluster: list[KafkaNode], *, spawn: Callable[..., int]
) -> list[int]:
    """Start every node (a JVM each, in a session of its own); their pids."""
    java = _which("java", "Real Kafka")
    pids = []
    for node in cluster:
        command = [
            java, "-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", "-cp", f"{libs}/*", "kafka.Kafka", str(node.config),
        ]  # fmt: skip
        pids.append(spawn(command, env=dict(os.environ), log=node.log))
    return pids


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, base64url without padding.

    >>> len(new_cluster_id())
    22
    """
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def wait_ready(
    addresses: list[str],
    pids: list[int],
    logs: list[Path],
    timeout: float,
    exit_code: Callable[[int], int | None],
) -> None:
    """Until every node answers a metadata request (and the cluster sees them all)."""
    deadline = time.monotonic() + timeout
    while True:
        for pid, log in zip(pids, logs, strict=True):
            code = exit_code(pid)
            if code is not None:
                raise BrokerError(
                    f"Kafka exited with code {code} at start; last lines of {log}:\n"
                    + _logs.tail(str(log), lines=10)
                )
        try:
            metadata = fetch_metadata(
                {"bootstrap.servers": ",".join(addresses)}, timeout=1.0
            )
            if len(metadata.brokers) >= len(addresses):
                return
        except BrokerUnreachable:
            pass
        if time.monotonic() > deadline:
            raise BrokerError(
                f"Kafka did not answer at {', '.join(addresses)} within {timeout:.0f} s; "
                f"see {logs[0]}."
            )
        time.sleep(0.2)
