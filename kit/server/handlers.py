"""The ``/kit/api`` handlers (all authenticated; see :mod:`kit.server`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import tornado.web
from jupyter_server.base.handlers import APIHandler

from .._errors import KitError

__all__ = ["HANDLERS"]


def _connection() -> Any:
    """The broker the panel shows: KIT_BROKER, else a running embedded broker.

    The panel never starts a broker by itself.
    """
    from .. import _broker
    from ..connection import connect

    address = os.environ.get("KIT_BROKER")
    if not address:
        info = _broker.running()
        if info is None:
            return None
        address = info.address
    return connect(address, timeout=3)


class ConnectionHandler(APIHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        try:
            conn = _connection()
        except KitError as exc:
            self.finish(json.dumps({"connected": False, "error": str(exc)}))
            return
        if conn is None:
            self.finish(json.dumps({
                "connected": False,
                "error": "No broker: start the embedded one with `kit broker start` or set KIT_BROKER.",
            }))  # fmt: skip
            return
        self.finish(json.dumps({
            "connected": True, "address": conn.address, "profile": conn.profile,
            "guarantee": conn.guarantee, "embedded": conn.embedded,
            "transactions": conn.capabilities.transactions,
        }))  # fmt: skip


class TopicsHandler(APIHandler):
    # topic -> (time, messages) of the previous call, for msg/s
    _last: ClassVar[dict[str, tuple[float, int]]] = {}

    @tornado.web.authenticated
    def get(self) -> None:
        try:
            conn = _connection()
            rows = conn.topics() if conn is not None else []
        except KitError as exc:
            raise tornado.web.HTTPError(503, str(exc)) from None
        now = time.monotonic()
        out = []
        for row in rows:
            before = self._last.get(row.name)
            rate = None
            if before is not None and now > before[0]:
                rate = max(0.0, (row.messages - before[1]) / (now - before[0]))
            self._last[row.name] = (now, row.messages)
            out.append(
                {
                    "name": row.name,
                    "partitions": row.partitions,
                    "messages": row.messages,
                    "rate": rate,
                }
            )
        self.finish(json.dumps({"topics": out}))


class ServicesHandler(APIHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        from ..ops.services import status

        self.finish(json.dumps(status(all=True).to_dict()))


class StopHandler(APIHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        from ..ops.services import status, stop

        found = status(name, all=True)
        if not found.services and not found.ended:
            raise tornado.web.HTTPError(404, f"No running service named {name!r}.")
        # A graceful stop takes up to 20 s: never block the server meanwhile.
        done = await asyncio.to_thread(stop, name, all=True)
        self.finish(json.dumps({"stopped": done.stopped, "cleared": done.cleared}))


class ExportHandler(APIHandler):
    """Export a notebook's chain: ``kit export`` (:func:`kit.ops.exporting.export`)
    in a child process, as its prototypes run on the recorded sample and the
    server must not run notebook code in its own process."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.get_json_body() or {}
        missing = [k for k in ("notebook", "outdir") if not body.get(k)]
        if missing:
            self.set_status(400)
            self.finish(json.dumps({"ok": False, "error": (
                f"Missing {', '.join(missing)}: post {{\"notebook\": \"chain.ipynb\", "
                '"outdir": "services/laps"} (paths inside the server\'s root).'
            )}))  # fmt: skip
            return
        root = Path(self.settings.get("server_root_dir", os.getcwd())).resolve()
        notebook = (root / str(body.get("notebook", ""))).resolve()
        outdir = (root / str(body.get("outdir", ""))).resolve()
        for path in (notebook, outdir):
            if root not in (path, *path.parents):
                raise tornado.web.HTTPError(
                    400, "Paths must stay inside the server's root."
                )
        if not notebook.is_file():
            raise tornado.web.HTTPError(
                404, f"No notebook at {body.get('notebook')!r}."
            )
        name = str(body.get("name") or outdir.name)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kit.cli", "export", str(notebook), str(outdir),
            "--name", name, "--json", cwd=str(notebook.parent),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await child.communicate()
        if child.returncode != 0:
            error = err.decode(errors="replace").strip().removeprefix("Error: ")
            self.set_status(422)
            self.finish(json.dumps({"ok": False, "error": error}))
            return
        done = json.loads(out.decode().strip().splitlines()[-1])
        self.finish(
            json.dumps(
                {"ok": True, "outdir": str(outdir.relative_to(root)),
                 "files": done["files"], "parity": done["parity"], "note": done["note"]}
            )
        )  # fmt: skip


HANDLERS: list[tuple[str, type[Any]]] = [
    ("connection", ConnectionHandler),
    ("topics", TopicsHandler),
    ("services", ServicesHandler),
    (r"services/([^/]+)/stop", StopHandler),
    ("export", ExportHandler),
]
