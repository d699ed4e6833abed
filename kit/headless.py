"""Headless runs (papermill, nbconvert, CI): no frontend will ever look.

Live things are then bounded (see :data:`DEFAULT_SECONDS`) and leave a
static final output in the saved notebook instead of a live widget.

``KIT_HEADLESS=1`` forces headless mode and ``KIT_HEADLESS=0`` forbids it;
otherwise a kernel started by papermill, nbclient or nbconvert is headless
(recognised by its parent process).

>>> import os; os.environ["KIT_HEADLESS"] = "1"; is_headless()
True
>>> os.environ["KIT_HEADLESS"] = "0"; is_headless()
False
>>> del os.environ["KIT_HEADLESS"]
"""

from __future__ import annotations

import functools
import os

__all__ = ["DEFAULT_SECONDS", "is_headless"]

#: How long a live peek, plot or demo producer runs headless when no
#: ``--for``/``--count`` bounds it.
DEFAULT_SECONDS = 10.0

_RUNNERS = ("papermill", "nbclient", "nbconvert")


def is_headless() -> bool:
    """Whether no frontend is attached (see the module docstring)."""
    forced = os.environ.get("KIT_HEADLESS")
    if forced in ("1", "true", "yes"):
        return True
    if forced in ("0", "false", "no"):
        return False
    return _started_by_a_runner()


@functools.lru_cache(maxsize=1)
def _started_by_a_runner() -> bool:
    import psutil

    try:
        parent = psutil.Process().parent()
        cmdline = " ".join(parent.cmdline()) if parent else ""
    except psutil.Error:
        return False
    return any(runner in cmdline for runner in _RUNNERS)
