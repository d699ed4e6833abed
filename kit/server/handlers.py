"""The ``/kit/api`` handlers (all authenticated; see :mod:`kit.server`)."""

from __future__ import annotations

import asyncio
import json
import os
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
        from ..process import ended_services, list_services

        services = []
        for service in list_services():
            status = service.status() or {}
            services.append({
                "name": service.name, "pid": service.pid, "folder": service.folder,
                "started_at": service.started_at, "steps": status.get("steps", []),
                "notices": status.get("notices", []),
            })  # fmt: skip
        # Services that ended on their own: how, and the end of their log.
        ended = [
            {"name": e.name, "how": e.how, "ended_at": e.ended_at, "log": e.log,
             "log_tail": e.log_tail}
            for e in ended_services()
        ]  # fmt: skip
        self.finish(json.dumps({"services": services, "ended": ended}))


class StopHandler(APIHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        from ..process import ended_services, list_services, stop_service

        if name in {e.name for e in ended_services()}:
            stop_service(name)  # it ended on its own: forget how
            self.finish(json.dumps({"cleared": name}))
            return
        if name not in {s.name for s in list_services()}:
            raise tornado.web.HTTPError(404, f"No running service named {name!r}.")
        # A graceful stop takes up to 20 s: never block the server meanwhile.
        await asyncio.to_thread(stop_service, name)
        self.finish(json.dumps({"stopped": name}))


class ExportHandler(APIHandler):
    """Export a notebook's chain (read from the file; nothing is executed)."""

    @tornado.web.authenticated
    def post(self) -> None:
        from ..chain.capture import chain_from_notebook
        from ..export import export_chain

        body = self.get_json_body() or {}
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
        try:
            chain = chain_from_notebook(notebook)
            name = str(body.get("name") or outdir.name)
            export_chain(chain, outdir, name=name, source=notebook.name)
        except KitError as exc:
            self.set_status(422)
            self.finish(json.dumps({"ok": False, "error": str(exc)}))
            return
        files = sorted(p.name for p in outdir.iterdir())
        self.finish(
            json.dumps(
                {"ok": True, "outdir": str(outdir.relative_to(root)), "files": files}
            )
        )


HANDLERS: list[tuple[str, type[Any]]] = [
    ("connection", ConnectionHandler),
    ("topics", TopicsHandler),
    ("services", ServicesHandler),
    (r"services/([^/]+)/stop", StopHandler),
    ("export", ExportHandler),
]
