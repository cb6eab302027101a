"""Block store domain errors: the shared model of ``common.errors`` in Cinder's
words. No HTTP here: ``common.http`` maps them by their status."""

from __future__ import annotations

from common.errors import BadRequest as Invalid
from common.errors import (
    Conflict,
    Forbidden,
    NotAcceptable,
    NotFound,
    StrataError,
    TooLarge,
    Unauthorized,
    Unavailable,
)

VolumeError = StrataError

__all__ = ["Conflict", "Forbidden", "Invalid", "NotAcceptable", "NotFound", "OverQuota",
           "Unauthorized", "Unavailable", "VolumeError"]


class OverQuota(TooLarge):
    """A project quota would be exceeded (413); ``resource`` names the quota."""

    def __init__(self, message: str, resource: str) -> None:
        super().__init__(message)
        self.resource = resource

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "0"}
