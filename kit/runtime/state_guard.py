"""Local state that belongs to the broker it was built on, or none at all.

A Quix step keeps its windows and per-key state in a local store (RocksDB in
the service's state directory) backed by changelog topics on the broker. The
local store outlives the broker's copy when the embedded broker restarts
(memory storage: every topic gone), when a topic is deleted and created
again, or when the service moves to another cluster. Used as it is, such a
store silently corrupts results: its windows' clocks are a previous run's, so
new records are dropped as "late", and quixstreams later fails with
``InvalidChangelogOffset``.

So before a Quix app starts, its state is checked against the broker:

* a **fingerprint** beside the store (``<group>.kit-state.json``) records the
  broker's cluster id and the topic ids of the step inputs and of the
  group's changelog and repartition topics, as they were when the store was
  built;
* the store was built on **another broker** (cluster id differs), or nobody
  knows where (no fingerprint): the local store is deleted and quixstreams
  rebuilds it from the changelog topics this broker has (none: an empty
  state, and the inputs are read from their committed offsets, i.e. from the
  start on a new broker);
* an **input or changelog topic was deleted and created again** on this
  broker: the state and the group's committed offsets describe records that
  are gone, so the group is reset: its changelog and repartition topics and
  committed offsets are deleted with the local store, and the chain
  processes its inputs again from their start (outputs carry the same record
  identities as before, so readers can drop the ones already written);
* otherwise the store is used as it is.

Each reset is one line in the service's log and in its status (``notice``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import KitError

__all__ = ["StateGuard", "StatePlan", "fingerprint", "plan_state"]

Action = Literal["keep", "wipe-local", "reset-group"]


@dataclass(frozen=True)
class StatePlan:
    """What to do with a group's state before its app starts, and why."""

    action: Action
    reason: str = ""


def internal_prefixes(group: str) -> tuple[str, str]:
    """Names of the topics quixstreams keeps for ``group`` start with these.

    >>> internal_prefixes("kit-live-quix")
    ('changelog__kit-live-quix--', 'repartition__kit-live-quix--')
    """
    return f"changelog__{group}--", f"repartition__{group}--"


def plan_state(
    recorded: Mapping[str, Any] | None,
    now: Mapping[str, Any],
    *,
    local_state: bool,
) -> StatePlan:
    """Decide from the recorded and the current fingerprint (pure).

    A fingerprint is ``{"cluster": id, "inputs": [...], "topics": {name: topic
    id or None}}``; ``None`` is "unknown" (a broker that does not report topic
    ids) and never counts as a change. Only topics the state still depends on
    are compared: today's inputs and the group's internal topics (a step that
    now reads another topic leaves its old input out of it).

    >>> now = {"cluster": "c1", "inputs": ["in"],
    ...        "topics": {"in": "A", "changelog__g--in--w": "B"}}
    >>> plan_state(now, now, local_state=True).action
    'keep'
    >>> plan_state(None, now, local_state=False).action
    'keep'
    >>> plan_state(None, now, local_state=True).action
    'wipe-local'
    >>> plan_state(dict(now, cluster="c0"), now, local_state=True).reason
    'it was built on another broker, or on this one before it restarted without its data'
    >>> plan_state(dict(now, topics={"in": "Z"}), now, local_state=True)
    StatePlan(action='reset-group', reason="topic 'in' was deleted and created again since")
    >>> gone = dict(now, topics={"in": "A"})
    >>> plan_state(now, gone, local_state=True).action  # its changelog was deleted
    'reset-group'
    >>> moved = dict(now, inputs=["other"], topics={"other": "C"})
    >>> plan_state(dict(now, topics={"in": "A"}), moved, local_state=True).action
    'keep'
    """
    if recorded is None:
        if local_state:
            return StatePlan(
                "wipe-local", "nothing records which broker it was built on"
            )
        return StatePlan("keep")
    if recorded.get("cluster") != now.get("cluster"):
        return StatePlan(
            "wipe-local",
            "it was built on another broker, or on this one before it restarted "
            "without its data",
        )
    current = now.get("topics", {})
    inputs = set(now.get("inputs", ()))
    for name, topic_id in sorted(recorded.get("topics", {}).items()):
        internal = name.startswith(("changelog__", "repartition__"))
        if topic_id is None or not (internal or name in inputs):
            continue
        if name not in current:
            return StatePlan("reset-group", f"topic {name!r} was deleted since")
        if current[name] is not None and current[name] != topic_id:
            return StatePlan(
                "reset-group", f"topic {name!r} was deleted and created again since"
            )
    return StatePlan("keep")


def fingerprint(
    admin: Any, *, group: str, inputs: Iterable[str], timeout: float = 10.0
) -> dict[str, Any]:
    """The broker's cluster id and the ids of ``inputs`` and of ``group``'s
    internal topics, as they are now (topics that do not exist are left out)."""
    inputs = sorted(set(inputs))
    metadata = admin.list_topics(timeout=timeout)
    prefixes = internal_prefixes(group)
    names = sorted(
        {t for t in inputs if t in metadata.topics}
        | {t for t in metadata.topics if t.startswith(prefixes)}
    )
    return {
        "cluster": metadata.cluster_id,
        "inputs": inputs,
        "topics": _topic_ids(admin, names, timeout),
    }


def _topic_ids(admin: Any, names: list[str], timeout: float) -> dict[str, str | None]:
    if not names:
        return {}
    try:
        from confluent_kafka import TopicCollection

        futures = admin.describe_topics(TopicCollection(names), request_timeout=timeout)
        return {name: str(f.result().topic_id) for name, f in futures.items()}
    except Exception:  # a broker without DescribeTopics: ids unknown
        return dict.fromkeys(names)


class StateGuard:
    """Checks (and records) which broker a group's local state belongs to.

    Args:
        client_config: confluent-kafka settings of the broker.
        state_dir: the app's state directory (its stores are in
            ``state_dir/group``; the fingerprint goes beside them).
        group: the app's consumer group.
        inputs: the topics its steps read.
    """

    def __init__(
        self,
        client_config: Mapping[str, Any],
        *,
        state_dir: str | os.PathLike[str],
        group: str,
        inputs: Iterable[str],
        timeout: float = 10.0,
    ) -> None:
        from confluent_kafka.admin import AdminClient

        self.admin = AdminClient(dict(client_config))
        self.state_dir = Path(state_dir)
        self.group = group
        self.inputs = list(inputs)
        self.timeout = timeout

    @property
    def path(self) -> Path:
        return self.state_dir / f"{self.group}.kit-state.json"

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(
            self.admin, group=self.group, inputs=self.inputs, timeout=self.timeout
        )

    def check(self) -> str | None:
        """Make the local state fit this broker (see the module docstring).
        Returns the one-line notice of what was done, or ``None``."""
        group, now = self.group, self.fingerprint()
        try:
            recorded = json.loads(self.path.read_text())
        except (OSError, ValueError):
            recorded = None
        local = self.state_dir / group
        plan = plan_state(
            recorded, now, local_state=local.is_dir() and any(local.iterdir())
        )
        if plan.action == "keep":
            return None
        if plan.action == "reset-group":
            prefixes = internal_prefixes(group)
            internal = [t for t in now["topics"] if t.startswith(prefixes)]
            _delete_topics(self.admin, internal, self.timeout)
            _delete_group(self.admin, group, self.timeout)
        shutil.rmtree(local, ignore_errors=True)
        self.path.unlink(missing_ok=True)
        if plan.action == "reset-group":
            return (
                f"State of {group!r} reset: {plan.reason}; its inputs are processed "
                "again from their start."
            )
        if any(t.startswith(internal_prefixes(group)[0]) for t in now["topics"]):
            return (
                f"Local state of {group!r} deleted: {plan.reason}; it is rebuilt "
                "from this broker's changelog topics."
            )
        return (
            f"Local state of {group!r} deleted: {plan.reason}; this broker holds "
            "no changelog of it, so the state starts empty."
        )

    def record(self) -> None:
        """Write the fingerprint of the broker the state is now built on
        (call it once the app's topics exist)."""
        data = self.fingerprint()
        data["written"] = time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)


def _delete_topics(admin: Any, names: list[str], timeout: float) -> None:
    """Delete ``names`` and wait until the broker no longer lists them."""
    if not names:
        return
    for future in admin.delete_topics(names, operation_timeout=timeout).values():
        try:
            future.result(timeout)
        except Exception as exc:
            if "UNKNOWN_TOPIC" not in str(exc):
                raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not set(names) & set(admin.list_topics(timeout=timeout).topics):
            return
        time.sleep(0.1)


def _delete_group(admin: Any, group: str, timeout: float) -> None:
    """Delete ``group``'s committed offsets (the group must have no member)."""
    for future in admin.delete_consumer_groups(
        [group], request_timeout=timeout
    ).values():
        try:
            future.result(timeout)
        except Exception as exc:
            if "GROUP_ID_NOT_FOUND" in str(exc):
                continue
            raise KitError(
                f"Could not reset consumer group {group!r} ({exc}); stop every "
                "other replica of this service, then start it again."
            ) from exc
