"""The ``kit`` command: thin over the library, one call per command.

The commands are in :mod:`kit.cli.broker` (``broker``, ``topics``),
:mod:`kit.cli.data` (``demo``, ``replay``, ``demo-data``) and
:mod:`kit.cli.services` (``export``, ``run``, ``status``, ``stop``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .._errors import KitError

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn kit errors into one clear line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KitError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


#: ``--broker host:port`` (or KIT_BROKER); without it, the embedded broker.
broker_option = click.option(
    "--broker",
    "address",
    envvar="KIT_BROKER",
    default=None,
    help="host:port (default: the embedded broker).",
)


@click.group()
@click.version_option(package_name="jupyter-streamkit")
def main() -> None:
    """jupyter-streamkit: live Kafka streams in notebooks, shipped as services."""


def _duration(seconds: float) -> str:
    """Compact duration for people.

    >>> _duration(3725.2)
    '1h 2m 5s'
    """
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


# The commands register themselves on `main`.
from . import broker, data, services  # noqa: E402

__all__ = ["broker", "data", "main", "services"]
