"""Image service domain errors: the shared model of ``common.errors`` in Glance's
words. No HTTP here: ``common.http`` maps them by their status."""

from __future__ import annotations

from common.errors import BadRequest as Invalid
from common.errors import (
    ClientDisconnected,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RangeNotSatisfiable,
    StrataError,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

ImageError = StrataError

__all__ = ["ClientDisconnected", "Conflict", "Forbidden", "Gone", "ImageError", "Invalid",
           "NotFound", "RangeNotSatisfiable", "TooLarge", "Unauthorized", "Unavailable",
           "UnsupportedMediaType"]
