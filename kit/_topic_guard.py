"""Before topics are deleted: who still reads them.

A consumer whose topic is deleted under it takes its whole process down on
the embedded broker (librdkafka crashes on Tansu's metadata for the deleted
topic), so :meth:`kit.Connection.delete_topics` first stops this process's
live views on those topics and refuses while a kit service reads one.
"""

from __future__ import annotations

from ._errors import KitError

__all__ = ["check_unread", "stop_taps"]


def check_unread(names: list[str], address: str | None) -> None:
    """Raise :class:`KitError` naming the running services on ``address``
    that read one of ``names``, and how to stop them."""
    readers = _service_readers(names, address)
    if readers:
        raise KitError(
            f"Not deleting {', '.join(map(repr, names))}: "
            + "; ".join(readers)
            + ". A consumer whose topic is deleted under it crashes its "
            "process on the embedded broker. Stop the service first "
            "(%stream stop NAME, or `kit stop NAME` in a shell), or pass "
            "force=True."
        )


def stop_taps(names: list[str], address: str | None) -> None:
    """Stop this process's live views (taps) reading one of ``names`` on ``address``."""
    from . import _jobs

    for job in _jobs.running_jobs():
        if (
            job.kind == "tap"
            and getattr(job, "topic", None) in names
            and getattr(getattr(job, "connection", None), "address", None) == address
        ):
            job.stop()


def _service_readers(names: list[str], address: str | None) -> list[str]:
    """Running kit services on ``address`` whose steps read one of ``names``."""
    from . import process

    found = []
    for service in process.list_services():
        status = service.status() or {}
        if status.get("broker", address) != address:
            continue
        for step in status.get("steps", []):
            if step.get("input") in names:
                found.append(
                    f"{step['input']!r} is the input of step {step.get('name')!r} "
                    f"of the running service {service.name!r} (pid {service.pid})"
                )
    return found
