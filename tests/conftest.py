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


#: The broker the integration tests run on: ``tansu`` (the embedded default)
#: or ``kafka`` (real Apache Kafka, `kit broker start --engine kafka`).
ENGINE = os.environ.get("KIT_TEST_ENGINE", "tansu")


@pytest.fixture(scope="session")
def broker() -> Iterator[object]:
    """The embedded broker of ``KIT_TEST_ENGINE``, started once for the session."""
    from kit import _broker

    info, _started = _broker.start(engine=ENGINE)
    yield info
    _broker.stop()


def pytest_collection_modifyitems(config: object, items: list[pytest.Item]) -> None:
    """On real Kafka, tests marked ``tansu`` (they are about the embedded
    broker's own behaviour) are skipped."""
    if ENGINE == "tansu":
        return
    skip = pytest.mark.skip(reason=f"about the Tansu broker (KIT_TEST_ENGINE={ENGINE})")
    for item in items:
        if "tansu" in item.keywords:
            item.add_marker(skip)


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


@pytest.fixture(scope="session")
def ip_session(connection: object) -> object:
    """An IPython shell that raises on errors (jupysql's TestingShell idea),
    with ``%load_ext kit`` done; history is kept in memory only."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class TestingShell(InteractiveShell):
        def run_cell(self, raw_cell: str, *args: object, **kwargs: object) -> object:
            result = super().run_cell(raw_cell, *args, **kwargs)
            result.raise_error()
            return result

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    if InteractiveShell.initialized() and not isinstance(
        InteractiveShell.instance(), TestingShell
    ):
        InteractiveShell.clear_instance()  # e.g. one created by bokeh.io.output_notebook
    shell = TestingShell.instance(config=config)
    shell.run_line_magic("load_ext", "kit")
    return shell


@pytest.fixture
def ip(ip_session: object) -> Iterator[object]:
    """The testing shell; live jobs are stopped and variables cleared after."""
    from kit import _jobs

    yield ip_session
    _jobs.stop()
    ip_session.user_ns.pop("df", None)  # type: ignore[attr-defined]


def produce_json(
    connection: object, topic: str, records: list[dict[str, object]], **kw: object
) -> None:
    """Produce records as JSON values (key from a ``_key`` entry if present)."""
    import json

    producer = connection.producer()  # type: ignore[attr-defined]
    for record in records:
        record = dict(record)
        key = record.pop("_key", None)
        producer.produce(
            topic,
            key=None if key is None else str(key).encode(),
            value=json.dumps(record).encode(),
            **kw,
        )
    producer.flush(10)


@pytest.fixture(autouse=True)
def _no_leaked_current_connection() -> Iterator[None]:
    """A test that connects elsewhere (a private broker) must not leave that
    connection current for the next test."""
    yield
    from kit import _session

    _session.set_current(None)
