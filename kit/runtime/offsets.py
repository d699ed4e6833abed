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
        # Tansu holds a fetch for fetch.wait.max.ms even when it has data.
        "fetch.wait.max.ms": 5,
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
        pending = {tp for tp, (low, high) in bounds.items() if high > low}
        if not pending:
            return bounds
        consumer.assign(
            [TopicPartition(t, p, max(bounds[(t, p)][1] - 1, 0)) for t, p in pending]
        )
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=0.1):
                tp = (message.topic(), message.partition())
                low, high = bounds[tp]
                error = message.error()
                if error is None:
                    bounds[tp] = (low, max(high, message.offset() + 1))
                elif error.code() == error._PARTITION_EOF:
                    bounds[tp] = (low, max(high, message.offset()))
                    pending.discard(tp)
        return bounds
    finally:
        consumer.close()
