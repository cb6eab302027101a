"""Identity domain errors. They know nothing of HTTP: identity/api maps them
to Keystone's error body in one place (identity.api.errors)."""

from __future__ import annotations


class IdentityError(Exception):
    """Base class: ``message`` is safe to show to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(IdentityError):
    """The request is malformed or violates a constraint (400)."""


class Unauthorized(IdentityError):
    """Authentication is missing or failed (401)."""


class Forbidden(IdentityError):
    """The caller is authenticated but not allowed (403)."""


class NotFound(IdentityError):
    """The named resource does not exist (404)."""


class TokenNotFound(NotFound):
    """A subject token is invalid, expired or revoked (404 on validation)."""


class Conflict(IdentityError):
    """The resource would duplicate an existing one (409)."""
