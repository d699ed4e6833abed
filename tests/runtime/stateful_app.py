"""A stateful quixstreams app on a kit connection (run as a child process).

Usage: python stateful_app.py ADDRESS INPUT OUTPUT GROUP STATE_DIR [PRODUCER_JSON]

Counts records per key in state and writes {"key", "id", "n"} per record.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import kit


def main() -> None:
    address, source, sink, group, state_dir = sys.argv[1:6]
    producer_extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else None
    conn = kit.connect(address)
    kwargs: dict[str, Any] = {}
    if producer_extra is not None:
        kwargs["producer_extra_config"] = producer_extra
    app = conn.application(
        consumer_group=group,
        state_dir=state_dir,
        auto_offset_reset="earliest",
        commit_interval=0.5,
        loglevel="WARNING",
        **kwargs,
    )
    sdf = app.dataframe(app.topic(source, value_deserializer="json"))

    def count(value: dict[str, Any], state: Any) -> dict[str, Any]:
        n = state.get("n", 0) + 1
        state.set("n", n)
        return {"key": value["key"], "id": value["id"], "n": n}

    sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(app.topic(sink, value_serializer="json"))
    app.run()


if __name__ == "__main__":
    main()
