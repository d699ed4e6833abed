"""The /kit/api server extension: authentication, topics, services, export."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kit
from tests.conftest import produce_json

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    connection: kit.Connection, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("server-root")
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "KIT_BROKER": str(connection.address),
        "JUPYTER_CONFIG_DIR": str(root / ".config"),
    }
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, (
                root / "server.log"
            ).read_text()
            time.sleep(0.3)
    yield {"url": url, "token": token, "root": root}
    process.terminate()
    process.wait(20)
    log.close()


def _call(
    server: dict[str, Any], method: str, path: str, body: Any = None, auth: bool = True
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"token {server['token']}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server['url']}/kit/api/{path}", data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except json.JSONDecodeError:
            return error.code, text.decode(errors="replace")


def test_every_endpoint_requires_authentication(server: dict[str, Any]) -> None:
    for method, path in (("GET", "topics"), ("GET", "connection"), ("GET", "services"),
                         ("POST", "services/x/stop"), ("POST", "export")):  # fmt: skip
        status, _ = _call(
            server, method, path, body={} if method == "POST" else None, auth=False
        )
        assert status == 403, (method, path, status)


def test_connection_and_topics_with_rates(
    server: dict[str, Any], connection: kit.Connection, topic: str
) -> None:
    status, info = _call(server, "GET", "connection")
    assert status == 200 and info["connected"] and info["profile"] == "local"
    assert info["guarantee"] == "at-least-once" and info["transactions"] is False
    produce_json(connection, topic, [{"i": i} for i in range(10)])
    status, first = _call(server, "GET", "topics")
    row = next(t for t in first["topics"] if t["name"] == topic)
    assert row == {"name": topic, "partitions": 2, "messages": 10, "rate": None}
    produce_json(connection, topic, [{"i": i} for i in range(20)])
    _, second = _call(server, "GET", "topics")
    row = next(t for t in second["topics"] if t["name"] == topic)
    assert row["messages"] == 30 and row["rate"] > 0


def test_services_and_stop(server: dict[str, Any]) -> None:
    status, body = _call(server, "GET", "services")
    assert status == 200 and isinstance(body["services"], list)
    status, _ = _call(server, "POST", "services/no-such-service/stop", body={})
    assert status == 404


def test_ended_services_are_listed_and_cleared(server: dict[str, Any]) -> None:
    from dataclasses import asdict

    from kit import process

    name = f"ended-{secrets.token_hex(3)}"
    record = process.EndedService(name, 1, "x.log", time.time(), -9, "running", "a\nb")
    (process._dir() / f"{name}.ended.json").write_text(json.dumps(asdict(record)))
    status, body = _call(server, "GET", "services")
    row = next(e for e in body["ended"] if e["name"] == name)
    assert row["how"] == "was killed (SIGKILL)" and row["log_tail"] == "a\nb"
    status, body = _call(server, "POST", f"services/{name}/stop", body={})
    assert status == 200 and body == {"stopped": [], "cleared": [name]}
    assert name not in {e.name for e in process.ended_services()}


def _notebook(path: Path, cells: list[str]) -> None:
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None} for c in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }))  # fmt: skip


def test_export_writes_the_service_or_names_the_blocking_cell(
    server: dict[str, Any], connection: kit.Connection, topic: str
) -> None:
    root: Path = server["root"]
    produce_json(connection, topic, [{"speed": 290 + i} for i in range(20)])
    _notebook(
        root / "good.ipynb",
        [
            "import polars as pl",
            f"%%stream fast --input {topic}\ndf.filter(pl.col('speed') > 300)",
        ],
    )
    status, body = _call(
        server, "POST", "export", {"notebook": "good.ipynb", "outdir": "services/fast"}
    )
    assert status == 200 and body["ok"], body
    assert "main.py" in body["files"] and "app.yaml" in body["files"]
    assert (root / "services" / "fast" / "steps.py").is_file()
    # With the parity test, on a sample of the input (KIT_BROKER's).
    assert body["parity"] and "test_service.py" in body["files"], body
    _notebook(
        root / "bad.ipynb",
        ["limit = 3", "%%stream s --input telemetry\ndf.filter(pl.col('x') > limit)"],
    )
    status, body = _call(
        server, "POST", "export", {"notebook": "bad.ipynb", "outdir": "services/bad"}
    )
    assert status == 422 and "Step 's' uses limit" in body["error"]
    status, _ = _call(
        server, "POST", "export", {"notebook": "good.ipynb", "outdir": "../outside"}
    )
    assert status == 400
    status, body = _call(server, "POST", "export", {"outdir": "services/x"})
    assert status == 400 and "Missing notebook" in body["error"], body
