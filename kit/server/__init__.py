"""A Jupyter Server extension: ``/kit/api/*`` for the Streams side panel.

Every handler requires Jupyter's authentication (token or cookie, and XSRF
for POST). They read state (connection, topics, services) and stop or export
what the kit manages; none runs code sent in a request.

Enabled by ``jupyter-config/jupyter_server_config.d/jupyter_streamkit.json``
(installed with the package) or ``jupyter server extension enable kit.server``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "kit.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.utils import url_path_join

    from .handlers import HANDLERS

    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "kit", "api", path), handler)
            for path, handler in HANDLERS
        ],
    )
    serverapp.log.info("jupyter-streamkit: /kit/api handlers registered")
