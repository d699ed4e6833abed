"""Times and durations as people write them.

>>> parse_duration("1h30m"), parse_duration("250ms"), parse_duration(5)
(5400.0, 0.25, 5.0)
>>> to_epoch_ms("2026-01-01T00:00:00Z")
1767225600000
>>> to_epoch_ms("-5m", now=1_000_000.0)
999700000
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timezone

from ._errors import ConfigurationError

__all__ = ["parse_duration", "to_epoch_ms"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number of seconds, or text like ``30s``, ``5m``,
    ``1h30m``, ``250ms``."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().lower().replace(" ", "")
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigurationError(
            f"{value!r} is not a duration; write seconds (30) or units such as "
            "'250ms', '30s', '5m', '1h30m', '2d'."
        )
    return sum(float(n) * _UNITS[u] for n, u in parts)


def to_epoch_ms(
    value: datetime | date | str | float | int, *, now: float | None = None
) -> int:
    """Milliseconds since the epoch for a datetime, an ISO string, epoch
    seconds or milliseconds, ``"now"``, or a time relative to now (``"-5m"``).

    Naive datetimes and ISO strings without an offset are local time, as in
    Python's ``datetime.timestamp()``.
    """
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day).timestamp() * 1000)
    if isinstance(value, int | float):
        # Large numbers are already milliseconds; small ones are seconds.
        return int(value if value > 1e11 else value * 1000)
    text = value.strip()
    current = time.time() if now is None else now
    if text.lower() == "now":
        return int(current * 1000)
    if text.startswith("-"):
        return int((current - parse_duration(text[1:])) * 1000)
    try:
        parsed = datetime.fromisoformat(
            text.replace("Z", "+00:00").replace("z", "+00:00")
        )
    except ValueError:
        raise ConfigurationError(
            f"{value!r} is not a time; use an ISO time ('2026-05-01T12:00', "
            "'2026-05-01T12:00Z'), a relative one ('-5m', '-2h'), 'now', "
            "or a datetime."
        ) from None
    return int(parsed.timestamp() * 1000)


def utc(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds.

    >>> utc(0).isoformat()
    '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
