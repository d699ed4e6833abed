"""Choosing a local port for a server the kit starts (broker, JupyterLab)."""

from __future__ import annotations

import socket

from ._errors import KitError

__all__ = ["choose_port", "port_free"]


def port_free(port: int, *, reuse_address: bool = False) -> bool:
    """Whether a server could listen on 127.0.0.1:``port``.

    ``reuse_address``: as a server that sets SO_REUSEADDR (JupyterLab) sees
    it, so a port a previous server left in TIME_WAIT counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(
    port: int | None,
    default: int,
    *,
    in_use: str,
    none_free: str,
    error: type[KitError] = KitError,
    reuse_address: bool = False,
) -> int:
    """``port`` if given (it must be free), else ``default`` or the next free
    one of the 100 from it. ``in_use`` (with ``{port}``) and ``none_free`` are
    the messages of the ``error`` raised otherwise.
    """
    if port is not None:
        if not port_free(port, reuse_address=reuse_address):
            raise error(in_use.format(port=port))
        return port
    for candidate in range(default, default + 100):
        if port_free(candidate, reuse_address=reuse_address):
            return candidate
    raise error(none_free)
