"""Small confluent-kafka helpers: metadata with one clear error, quietly."""

from __future__ import annotations

import time
from typing import Any

from ._errors import BrokerUnreachable
from .runtime.profile import quiet_logger

__all__ = ["fetch_metadata"]

REFUSED_GRACE = 1.0  # seconds


def fetch_metadata(config: dict[str, Any], *, timeout: float = 4.0) -> Any:
    """Cluster metadata (``ClusterMetadata``) or one clear ``BrokerUnreachable``.

    librdkafka's own connection errors are collected, not printed; the most
    recent one is named in the message.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    address = str(config.get("bootstrap.servers", "?"))
    errors: list[str] = []

    def on_error(error: Any) -> None:
        errors.append(error.str())

    admin = AdminClient(
        {
            **config,
            "logger": quiet_logger(),
            "error_cb": on_error,
            "socket.connection.setup.timeout.ms": max(1000, int(timeout * 1000)),
            "reconnect.backoff.max.ms": 500,
        }
    )
    started = time.monotonic()
    deadline = started + timeout
    while True:
        try:
            return admin.list_topics(
                timeout=min(0.5, max(0.05, deadline - time.monotonic()))
            )
        except KafkaException as exc:
            last = exc.args[0].str()
        admin.poll(0)  # serve error_cb: librdkafka's reason for the failure
        now = time.monotonic()
        # A refused connection or unknown host is final after a second of
        # retries (time for a broker that is just starting); anything else
        # waits out the timeout.
        refused = any("refused" in e or "resolve" in e for e in errors)
        if now >= deadline or (refused and now - started >= REFUSED_GRACE):
            break
    specific = [e for e in errors if "brokers are down" not in e]
    reason = _short_reason((specific or errors or [last])[-1])
    waited = time.monotonic() - started
    raise BrokerUnreachable(
        f"No Kafka broker answered at {address} ({reason}; gave up after "
        f"{waited:.1f} s). Check the address and that the broker is running; "
        "for the embedded broker run `kit broker start`, or unset "
        "KIT_BROKER to let kit.connect() start it.",
        address=address,
    ) from None


def _short_reason(text: str) -> str:
    """The useful tail of a librdkafka error string.

    >>> _short_reason("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: "
    ...               "Connection refused (after 0ms in state CONNECT)")
    'connection refused'
    >>> _short_reason("1/1 brokers are down")
    '1/1 brokers are down'
    """
    if "/bootstrap: " in text:
        text = text.split("/bootstrap: ", 1)[1]
    if "failed: " in text:
        text = text.split("failed: ", 1)[1]
    text = text.split(" (after", 1)[0]
    return text[:1].lower() + text[1:]
