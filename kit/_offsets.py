"""Where partitions end, without trusting a wrong high watermark.

Tansu reports the high watermark as (first offset of the last batch) + 1, so
after a 1,000-record batch it says 1. Its fetch responses are right, though:
reading a partition from (watermark - 1), the start of its last batch, to the
partition-EOF event gives the true end. That costs one batch per partition.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["end_offsets"]


def end_offsets(
    consumer_config: dict[str, Any],
    partitions: dict[str, list[int]],
    *,
    trust_watermarks: bool,
    timeout: float = 5.0,
) -> dict[tuple[str, int], tuple[int, int]]:
    """``{(topic, partition): (low, end)}``, end exclusive."""
    from confluent_kafka import Consumer, TopicPartition

    config = {
        **consumer_config,
        "group.id": consumer_config.get("group.id", "kit-offsets"),
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    consumer = Consumer(config)
    try:
        bounds: dict[tuple[str, int], tuple[int, int]] = {}
        for topic, parts in partitions.items():
            for p in parts:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=timeout
                )
                bounds[(topic, p)] = (max(low, 0), max(high, 0))
        if trust_watermarks:
            return bounds
        pending = {tp: b for tp, b in bounds.items() if b[1] > b[0]}
        if not pending:
            return bounds
        consumer.assign(
            [
                TopicPartition(t, p, max(high - 1, low))
                for (t, p), (low, high) in pending.items()
            ]
        )
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            tp = (message.topic(), message.partition())
            if message.error():
                if (
                    message.error().code() == message.error()._PARTITION_EOF
                    and tp in pending
                ):
                    low, high = bounds[tp]
                    bounds[tp] = (low, max(high, message.offset()))
                    pending.pop(tp)
                continue
            low, high = bounds[tp]
            bounds[tp] = (low, max(high, message.offset() + 1))
        return bounds
    finally:
        consumer.close()
