"""%stream run [STEP ...] [--name SERVICE] [--detach]: the chain, live.

The chain is exported to a folder in the state directory and that folder's
main.py runs as a child process: exactly the code ``%stream export`` writes.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

__all__ = ["LiveRun", "restart_if_live", "run"]


@magic_arguments()
@argument(
    "steps", nargs="*", help="steps to run (default: all, with what they depend on)"
)
@argument(
    "--name", default=None, help="service name (default: StreamMagics.service_name)"
)
@argument("--detach", action="store_true", help="keep running after the kernel ends")
def run_args(line: str) -> None:
    """Run the chain live against the stream."""


class LiveRun:
    """A running chain: ``status()``, ``stop()``; shows its status table."""

    def __init__(self, service: Any, steps: list[str]) -> None:
        self.service = service
        self.steps = steps

    @property
    def name(self) -> str:
        return str(self.service.name)

    def status(self) -> dict[str, Any] | None:
        return self.service.status()  # type: ignore[no-any-return]

    def stop(self) -> None:
        from ..process import stop_service

        stop_service(self.name)

    def _repr_html_(self) -> str:
        from ..live.status import status_html

        return status_html([self.service])

    def __repr__(self) -> str:
        return f"<LiveRun {self.name!r} pid={self.service.pid} steps={self.steps}>"


def run(magics: Any, line: str) -> LiveRun:
    args = parse_argstring(run_args, line)
    return start_live(magics, args.steps or None, name=args.name, detach=args.detach)


def start_live(
    magics: Any, steps: list[str] | None, *, name: str | None, detach: bool
) -> LiveRun:
    from .. import _session, _state
    from ..chain.capture import kernel_chain
    from ..export import export_chain
    from ..process import start_service, wait_running

    chain = kernel_chain()
    if not chain.steps:
        from ..chain.step import ChainError

        raise ChainError(
            "No %%stream steps yet: write one with `%%stream NAME --input TOPIC`."
        )
    connection = _session.current()
    service_name = name or magics.service_name
    ordered = [s.name for s in chain.ordered(steps)]
    for step in chain.ordered(steps):  # outputs exist before anyone reads them
        connection.create_topic(chain.output_topic(step), partitions=4)
    folder = _state.state_dir() / "live" / service_name
    topics = [t.name for t in connection.topics()]
    export_chain(
        chain,
        folder,
        name=service_name,
        steps=ordered,
        source="a live notebook",
        topics=topics,
    )
    service = start_service(
        folder, name=service_name, connection=connection, detach=detach
    )
    wait_running(service)
    magics.live[service_name] = ordered
    return LiveRun(service, ordered)


def restart_if_live(magics: Any, step: str) -> None:
    """Re-running a step cell while its chain is live restarts the chain from
    its committed offsets (nothing lost)."""
    for service_name, steps in list(magics.live.items()):
        if step in steps:
            from ..process import list_services

            if any(s.name == service_name for s in list_services()):
                start_live(magics, steps, name=service_name, detach=False)
                print(f"Restarted live chain {service_name!r} with the new {step!r}.")
