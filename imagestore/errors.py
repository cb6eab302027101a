"""Image service domain errors. No HTTP here: ``api/base.py`` maps them (one place)."""

from __future__ import annotations


class ImageError(Exception):
    """Base of every image service domain error; ``message`` is shown to clients."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(ImageError):
    """The request is malformed or asks for something impossible (400)."""


class Unauthorized(ImageError):
    """No valid token (401)."""


class Forbidden(ImageError):
    """The caller may not do this (403)."""


class NotFound(ImageError):
    """No such image, member or tag visible to the caller (404)."""


class Conflict(ImageError):
    """The image's state does not allow this now (409)."""


class TooLarge(ImageError):
    """An image or a project's quota would grow past its limit (413)."""


class UnsupportedMediaType(ImageError):
    """The request body's content type is not the one this call takes (415)."""


class RangeNotSatisfiable(ImageError):
    """The requested byte range is outside the image (416)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class Unavailable(ImageError):
    """A service we depend on (identity, the data store) failed (503)."""


class Gone(ImageError):
    """The image was deleted while its data was being uploaded (410)."""


class ClientDisconnected(ImageError):
    """The client stopped sending an image before its end (logged; nobody reads the answer)."""
