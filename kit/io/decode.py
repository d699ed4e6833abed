"""Batch decoding (it lives in :mod:`kit.runtime.decode` and
:mod:`kit.runtime.messages`, shared with services)."""

from ..runtime.decode import DEFAULT_MAX_BYTES, ERROR, FORMATS, Decoder, flatten
from ..runtime.messages import META_COLUMNS, frame_from_messages

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ERROR",
    "FORMATS",
    "META_COLUMNS",
    "Decoder",
    "flatten",
    "frame_from_messages",
]
