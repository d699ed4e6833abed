"""The kit's actions, each written once: export, run, status, stop, and the
live run of a notebook's chain. The front ends (``%stream`` magics, the
``kit`` command, the Streams panel's server API, :mod:`kit`'s functions)
only parse their arguments, make one call here and show the result.
"""

from .exporting import Exported, export
from .live import LiveRun, start_live
from .services import Report, Stopped, run, status, stop

__all__ = [
    "Exported",
    "LiveRun",
    "Report",
    "Stopped",
    "export",
    "run",
    "start_live",
    "status",
    "stop",
]
