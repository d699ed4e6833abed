"""Durable mode for the embedded broker: Tansu's ``s3://`` storage against a
local S3-compatible server (s3rver, from npm) that keeps its data in a folder.

s3rver is installed once into the state directory with npm (Node.js needed);
``KIT_S3RVER`` may point at an s3rver executable instead. Measured: data and
group offsets survive restarting both s3rver and the broker; throughput is
several times lower than memory storage (see the README).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import _state
from ._errors import BrokerError

__all__ = ["S3Server", "start_s3"]

S3RVER_VERSION = "3.7.1"
BUCKET = "tansu"


@dataclass(frozen=True)
class S3Server:
    pid: int
    port: int
    env: dict[str, str]


def _s3rver() -> str:
    override = os.environ.get("KIT_S3RVER")
    if override:
        return override
    prefix = _state.state_dir() / "s3rver"
    binary = prefix / "node_modules" / ".bin" / "s3rver"
    if binary.exists():
        return str(binary)
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BrokerError(
            "--durable runs a local S3 server (s3rver) that needs Node.js and npm: "
            "install them (e.g. `apt-get install nodejs npm`), or set KIT_S3RVER "
            "to an s3rver executable."
        )
    print(
        f"Installing s3rver {S3RVER_VERSION} for durable mode (once)...",
        file=sys.stderr,
    )
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
         f"s3rver@{S3RVER_VERSION}"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode != 0 or not binary.exists():
        raise BrokerError(
            f"`npm install s3rver@{S3RVER_VERSION}` failed:\n{result.stderr[-1500:]}"
        )
    return str(binary)


def start_s3(directory: str, *, log: Path, timeout: float = 15.0) -> S3Server:
    """Start s3rver on a free loopback port, storing its data in ``directory``."""
    from . import _procs

    binary = _s3rver()
    Path(directory).mkdir(parents=True, exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [
        binary, "--directory", directory, "--address", "127.0.0.1",
        "--port", str(port), "--configure-bucket", BUCKET, "--silent",
    ]  # fmt: skip
    pid = _procs.spawn(command, env=dict(os.environ), log=log).pid
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"The local S3 server did not start within {timeout:.0f} s; "
                    f"see {log}."
                ) from None
            time.sleep(0.1)
    env = {
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "S3RVER",
        "AWS_SECRET_ACCESS_KEY": "S3RVER",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return S3Server(pid=pid, port=port, env=env)
