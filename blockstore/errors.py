"""Block store domain errors. No HTTP here: ``api/base.py`` maps them (one place)."""

from __future__ import annotations


class VolumeError(Exception):
    """Base of every block store domain error; ``message`` is shown to clients."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(VolumeError):
    """The request is malformed or the resource's state does not allow it (400)."""


class Unauthorized(VolumeError):
    """No valid token (401)."""


class Forbidden(VolumeError):
    """The caller may not do this (403)."""


class NotFound(VolumeError):
    """No such volume, snapshot, type, attachment or transfer visible to the caller (404)."""


class NotAcceptable(VolumeError):
    """The requested API microversion is not supported (406)."""


class Conflict(VolumeError):
    """A name or state conflict (409)."""


class OverQuota(VolumeError):
    """A project quota would be exceeded (413); ``resource`` names the quota."""

    def __init__(self, message: str, resource: str) -> None:
        super().__init__(message)
        self.resource = resource


class Unavailable(VolumeError):
    """A service we depend on (identity, the image service, the target) failed (503)."""
