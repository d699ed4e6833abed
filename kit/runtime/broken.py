"""A step that fails on every record for a while is broken, not fed bad data.

Records a step fails on go to the dead-letter topic one by one; that is right
for bad records, and wrong for a step that cannot work at all (a typo, a
column that is never there): it would quietly move the whole stream into the
dead-letter topic. So a step that failed on every record of
``KIT_BROKEN_BATCHES`` (3) batches in a row, ``KIT_BROKEN_RECORDS`` (100)
records at least, stops its service with :class:`StepBroken`, naming the
step and the line; what it failed on is neither dead-lettered nor committed,
so a fixed step starts again from there. (A Quix step works record by record:
its batches are records.)
"""

from __future__ import annotations

import linecache
import os
import traceback

from .errors import StepBroken

__all__ = ["Breaker", "StepBroken", "where"]


class Breaker:
    """Counts a step's failures in a row and says when it is broken.

    >>> b = Breaker("fast", batches=3, records=100)
    >>> [b.failed(60, "KeyError: 'x'", "steps.py, line 9") for _ in range(3)]
    [False, False, True]
    >>> print(b.error())  # doctest: +ELLIPSIS
    Step 'fast' failed on every record of 3 batches in a row (180 records): KeyError: 'x' (steps.py, line 9). ...
    >>> b.ok(); b.failed(60, "e", "")
    False
    """

    def __init__(
        self, step: str, *, batches: int | None = None, records: int | None = None
    ) -> None:
        self.step = step
        self.batches = batches or int(os.environ.get("KIT_BROKEN_BATCHES", "3"))
        self.records = records or int(os.environ.get("KIT_BROKEN_RECORDS", "100"))
        self.ok()

    def ok(self) -> None:
        """The step got a record through: no failures in a row."""
        self.run_batches = 0
        self.run_records = 0
        self.reason = ""
        self.where = ""

    def failed(self, records: int, reason: str, where: str) -> bool:
        """A batch of ``records`` all failed; whether the step is broken now."""
        self.run_batches += 1
        self.run_records += records
        self.reason, self.where = reason, where or self.where
        return self.run_batches >= self.batches and self.run_records >= self.records

    def error(self) -> StepBroken:
        at = f" ({self.where})" if self.where else ""
        return StepBroken(
            f"Step {self.step!r} failed on every record of {self.run_batches} "
            f"batches in a row ({self.run_records:,} records): {self.reason}{at}. "
            "It is broken, not fed bad data: the service stopped, and those "
            "records were neither dead-lettered nor committed. Fix the step and "
            "start it again (it goes on from there). KIT_BROKEN_BATCHES and "
            f"KIT_BROKEN_RECORDS set the threshold ({self.batches}, {self.records})."
        )


def where(exc: BaseException) -> str:
    """The line of a step's code an exception came from: the last frame in an
    exported ``steps.py`` or a ``%%stream`` cell.

    >>> try:
    ...     exec(compile("1 / 0", "<%%stream s>", "exec"))
    ... except ZeroDivisionError as e:
    ...     where(e)
    '<%%stream s>, line 1'
    """
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        name = os.path.basename(frame.filename)
        if name == "steps.py" or name.startswith("<%%stream"):
            code = (
                frame.line or linecache.getline(frame.filename, frame.lineno or 0)
            ).strip()
            found = f"{name}, line {frame.lineno}" + (f": {code}" if code else "")
    return found
