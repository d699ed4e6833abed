"""Fixtures: a real embedded broker per test session, uuid-named topics."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every test run gets its own state directory, so it never touches (or stops)
# a broker the developer runs by hand.
_SESSION_STATE = tempfile.mkdtemp(prefix="kit-test-state-")
os.environ["KIT_STATE_DIR"] = _SESSION_STATE
os.environ.pop("KIT_BROKER", None)


@pytest.fixture(scope="session")
def broker() -> Iterator[object]:
    """The embedded Tansu broker, started once for the session."""
    from kit import _broker

    info, _started = _broker.start()
    yield info
    _broker.stop()


@pytest.fixture(scope="session")
def connection(broker: object) -> object:
    import kit

    return kit.connect(broker.address)  # type: ignore[attr-defined]


@pytest.fixture
def topic_name() -> str:
    """A fresh, unique topic name."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic(connection: object, topic_name: str) -> Iterator[str]:
    """A fresh 2-partition topic, deleted after the test."""
    connection.create_topic(topic_name, partitions=2)  # type: ignore[attr-defined]
    yield topic_name
    connection.delete_topics([topic_name])  # type: ignore[attr-defined]


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state directory of the test's own (for tests that start/stop brokers)."""
    from kit import _broker

    monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path))
    yield tmp_path
    _broker.stop()
