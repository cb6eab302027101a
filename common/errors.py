"""The one domain error model every Strata service shares.

Services raise these (or their own subclasses) from their core layers, which
know nothing of HTTP. Each class carries the status an API answers it with;
``common.http`` maps every :class:`StrataError` to that status in one place,
and each API renders the result in its own wire format (Keystone's, Glance's,
Cinder's, Swift's, S3's, ...), which is all a service supplies.

A service keeps its own names as aliases or subclasses (``Invalid``,
``ValidationError``, ``OverQuota``) so its code reads in its own words, but
the base and the statuses are these.
"""

from __future__ import annotations

from typing import ClassVar


class StrataError(Exception):
    """Base of every domain error. ``message`` is safe to show to clients.

    ``status`` is the HTTP status an API answers with; ``headers()`` any
    header that must go with it (``Retry-After``, ``Content-Range``, ...).
    """

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(StrataError):
    """The request is malformed or asks for something impossible (400)."""

    status = 400


class Unauthorized(StrataError):
    """Authentication is missing or failed (401)."""

    status = 401


class Forbidden(StrataError):
    """The caller is authenticated but not allowed (403)."""

    status = 403


class NotFound(StrataError):
    """The named resource does not exist, or is not visible to the caller (404)."""

    status = 404


class NotAcceptable(StrataError):
    """The requested API (micro)version or representation is not supported (406)."""

    status = 406


class Conflict(StrataError):
    """A name or state conflict: the resource's state does not allow this now (409)."""

    status = 409


class Gone(StrataError):
    """The resource went away while the request was served (410)."""

    status = 410


class LengthRequired(StrataError):
    """A body was sent with neither Content-Length nor Transfer-Encoding (411)."""

    status = 411


class PreconditionFailed(StrataError):
    """A condition of the request does not hold (412)."""

    status = 412


class TooLarge(StrataError):
    """A body, or a quota, would grow past its limit (413)."""

    status = 413


class UnsupportedMediaType(StrataError):
    """The body's content type is not one this call takes (415)."""

    status = 415


class RangeNotSatisfiable(StrataError):
    """The requested byte range lies outside the resource of ``size`` bytes (416)."""

    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class Unprocessable(StrataError):
    """The body is well formed but its content is wrong (422: an ETag mismatch)."""

    status = 422


class ClientDisconnected(StrataError):
    """The client went away before the end of its request (499; logged, never read)."""

    status = 499


class NotImplementedYet(StrataError):
    """A feature of the API that this cloud does not provide (501)."""

    status = 501


class Unavailable(StrataError):
    """A service or node this request depends on failed or timed out (503)."""

    status = 503


class InsufficientStorage(StrataError):
    """A device has no room, or is not mounted (507)."""

    status = 507
