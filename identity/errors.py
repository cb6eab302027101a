"""Identity domain errors: the shared model of ``common.errors`` in Keystone's
words. They know nothing of HTTP; ``common.http`` maps them by their status and
``identity.api.base`` renders Keystone's error body."""

from __future__ import annotations

from common.errors import BadRequest, Conflict, Forbidden, NotFound, StrataError, Unauthorized

IdentityError = StrataError

__all__ = ["Conflict", "Forbidden", "IdentityError", "NotFound", "TokenNotFound",
           "Unauthorized", "ValidationError"]


class ValidationError(BadRequest):
    """The request is malformed or violates a constraint (400)."""


class TokenNotFound(NotFound):
    """A subject token is invalid, expired or revoked (404 on validation)."""
