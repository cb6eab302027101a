"""The storage node's errors: :mod:`common.errors` classes, some with the headers
the storage protocol adds to them.

The node's handlers raise these (or plain ``common.errors`` classes, such as
``BadRequest`` or ``InsufficientStorage``); the common middleware maps every
one by its status, and :func:`objectstore.server.text_error` renders it in the
node's wire format: the message as plain text, or no body at all when the
message is empty (a bare status, as the proxy reads it).
"""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import Conflict, Forbidden, NotFound, StrataError
from objectstore.protocol import BACKEND_TIMESTAMP


class NodeError(StrataError):
    """A domain error with headers of the storage protocol (``X-Backend-*``)."""

    def __init__(self, message: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self._headers = dict(headers or {})

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class Missing(NodeError, NotFound):
    """404: no such object or DB here; a deleted one's answer says when it went."""


class RecentlyDeleted(NodeError, Forbidden):
    """403: a deleted account is not created again until its DB is reaped."""


class Superseded(NodeError, Conflict):
    """409: what is here is as new as the request or newer (or a DB is in use)."""


def superseded(newer: str) -> Superseded:
    """A write older than what the node holds, whose timestamp is ``newer``."""
    return Superseded("", {BACKEND_TIMESTAMP: newer})


def object_missing(tombstone: str | None) -> Missing:
    """No live object; ``tombstone`` is the timestamp of its delete, if any."""
    return Missing("", {BACKEND_TIMESTAMP: tombstone} if tombstone else None)


class Locked(NodeError, Forbidden):
    """403: the object is locked (a legal hold, or a retention still running)."""
