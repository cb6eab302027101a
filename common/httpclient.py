"""How one Strata service calls another over HTTP: the base of every service client.

Each service publishes one client module next to itself (``identity/client.py``,
``imagestore/client.py``, ``proxy/client.py``): the only module of a service
another one may import. Those clients build on :class:`ServiceClient` here, so
they send tokens, apply timeouts and report failures the same way:

* a token is a string (a caller's own, passed on) or a coroutine function that
  answers one (a service user's, renewed as it expires);
* every failure is a :class:`RemoteError`. Its class is also the
  :mod:`common.errors` class of the status the other service answered (a 404
  is a :class:`~common.errors.NotFound`, a 403 a
  :class:`~common.errors.Forbidden`, any other 4xx a
  :class:`~common.errors.BadRequest`, a 5xx or no answer at all
  :class:`~common.errors.Unavailable`), so an error a caller does not catch is
  answered with a sensible status, and a caller that words its own message
  finds the status (``answered``) and the start of the error body (``body``)
  on it. Connection failures and timeouts have ``answered`` None.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

from common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    NotFound,
    PreconditionFailed,
    StrataError,
    TooLarge,
    Unauthorized,
    Unavailable,
    Unprocessable,
)

Token = str | Callable[[], Awaitable[str]]
BODY_EXCERPT = 2000  # how much of an error body a RemoteError keeps
READ_CHUNK = 1 << 20


async def file_chunks(path: str | os.PathLike[str],
                      size: int = READ_CHUNK) -> AsyncIterator[bytes]:
    """A file's bytes, read in a thread chunk by chunk: a body streamed from disk
    without blocking the event loop."""
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(fh.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(fh.close)


class RemoteError(StrataError):
    """Another service answered an error (``answered``: its status; ``body``: the start
    of its answer), or could not be asked at all (``answered`` None)."""

    def __init__(self, message: str, *, answered: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.answered = answered
        self.body = body


class RemoteBadRequest(BadRequest, RemoteError):
    """The other service refused the request (400, or a 4xx with no class of its own)."""


class RemoteUnauthorized(Unauthorized, RemoteError):
    """The other service did not accept the token (401)."""


class RemoteForbidden(Forbidden, RemoteError):
    """The token's owner may not do this there (403)."""


class RemoteNotFound(NotFound, RemoteError):
    """No such resource there, or not one the token's owner may see (404)."""


class RemoteConflict(Conflict, RemoteError):
    """The resource's state there does not allow this now (409)."""


class RemotePreconditionFailed(PreconditionFailed, RemoteError):
    """A condition of the request does not hold there (412)."""


class RemoteTooLarge(TooLarge, RemoteError):
    """A body or a quota there would grow past its limit (413)."""


class RemoteUnprocessable(Unprocessable, RemoteError):
    """The body's content was refused there: an ETag mismatch, say (422)."""


class RemoteInsufficientStorage(InsufficientStorage, RemoteError):
    """The other service has no room (507)."""


class RemoteUnavailable(Unavailable, RemoteError):
    """The other service failed (5xx), is unreachable, timed out, or no token could be
    had to ask it (``answered`` None for the last three)."""


_BY_STATUS: dict[int, type[RemoteError]] = {
    400: RemoteBadRequest, 401: RemoteUnauthorized, 403: RemoteForbidden,
    404: RemoteNotFound, 409: RemoteConflict, 412: RemotePreconditionFailed,
    413: RemoteTooLarge, 422: RemoteUnprocessable, 507: RemoteInsufficientStorage,
}


def remote_error(status: int, message: str, body: str = "") -> RemoteError:
    """The :class:`RemoteError` of an answer with ``status``."""
    cls = _BY_STATUS.get(status) or (RemoteBadRequest if 400 <= status < 500
                                     else RemoteUnavailable)
    return cls(message, answered=status, body=body)


@dataclass(frozen=True)
class Reply:
    """An answer read whole: its status, headers and body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class Download:
    """An answer whose body is read as it arrives: iterate it for chunks; close it (or
    use ``async with``) when not reading it to the end. A failure while reading is a
    :class:`RemoteUnavailable`."""

    def __init__(self, response: aiohttp.ClientResponse, service: str) -> None:
        self.response = response
        self.status = response.status
        self.headers = response.headers
        self._service = service

    async def chunks(self, size: int = READ_CHUNK) -> AsyncIterator[bytes]:
        try:
            async for data in self.response.content.iter_chunked(size):
                yield data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteUnavailable(f"reading from {self._service} failed "
                                    f"({type(exc).__name__})") from exc

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def read(self) -> bytes:
        """The whole body (small answers only)."""
        out = bytearray()
        async for chunk in self.chunks():
            out += chunk
        return bytes(out)

    async def close(self) -> None:
        """Give the connection back (to the pool when the body was read to its end)."""
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()

    async def __aenter__(self) -> Download:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


async def _excerpt(resp: aiohttp.ClientResponse) -> bytes:
    """The start of an answer's body: up to BODY_EXCERPT bytes, however they arrive."""
    buf = bytearray()
    while len(buf) < BODY_EXCERPT:
        chunk = await resp.content.read(BODY_EXCERPT - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


class ServiceClient:
    """What every service client shares: where the service is, the token to send, an
    aiohttp session (the caller's, or one of its own made on first use), timeouts, and
    one way to send a request and turn what went wrong into a :class:`RemoteError`.

    ``conn_timeout`` bounds connecting, ``read_timeout`` each read (None: no bound;
    there is never one on a whole request: bodies are streamed and may be large).
    """

    service: ClassVar[str] = "the service"  # how messages name it: "the image service"

    def __init__(self, base_url: str, token: Token, *,
                 session: aiohttp.ClientSession | None = None, conn_timeout: float = 10,
                 read_timeout: float | None = 300) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=conn_timeout,
                                              sock_read=read_timeout)

    async def token(self) -> str:
        """The token to send; a :class:`RemoteUnavailable` when none can be had."""
        if isinstance(self._token, str):
            return self._token
        try:
            return await self._token()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise RemoteUnavailable(f"cannot authenticate to {self.service}") from exc

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def open(self, method: str, url: str, *, ok: tuple[int, ...],
                   headers: dict[str, str] | None = None,
                   **kw: Any) -> aiohttp.ClientResponse:
        """Send a request; the response, still open (the caller releases it), when its
        status is one of ``ok``, else the :class:`RemoteError` of its status."""
        hdrs = {"X-Auth-Token": await self.token(), **(headers or {})}
        try:
            resp = await self.session().request(method, url, headers=hdrs,
                                                timeout=self._timeout, **kw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteUnavailable(f"{self.service} is unreachable "
                                    f"({type(exc).__name__})") from exc
        if resp.status not in ok:
            try:
                body = (await _excerpt(resp)).decode(errors="replace")
            except (aiohttp.ClientError, TimeoutError):
                body = ""
            finally:
                resp.release()
            raise remote_error(resp.status, f"{self.service} answered {resp.status} to "
                               f"{method} {self.describe(url)}", body)
        return resp

    def describe(self, url: str) -> str:
        """How messages name what ``url`` addresses (its path, by default)."""
        return urlsplit(url).path

    async def fetch(self, method: str, url: str, *, ok: tuple[int, ...],
                    headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        """Send a request and read its answer whole (see :meth:`open`)."""
        resp = await self.open(method, url, ok=ok, headers=headers, **kw)
        try:
            body = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RemoteUnavailable(f"reading from {self.service} failed "
                                    f"({type(exc).__name__})") from exc
        finally:
            resp.release()
        return Reply(resp.status, resp.headers, body)

    async def fetch_json(self, method: str, url: str, *, ok: tuple[int, ...],
                         headers: dict[str, str] | None = None,
                         **kw: Any) -> dict[str, Any]:
        """Send a request and read its answer as a JSON object ({} for an empty body or
        another JSON value); a :class:`RemoteUnavailable` when it is not JSON."""
        reply = await self.fetch(method, url, ok=ok, headers=headers, **kw)
        if not reply.body:
            return {}
        try:
            doc = json.loads(reply.body)
        except ValueError as exc:
            raise RemoteUnavailable(f"{self.service} answered {method} "
                                    f"{self.describe(url)} with something that is not "
                                    "JSON") from exc
        return doc if isinstance(doc, dict) else {}

    async def close(self) -> None:
        """Close the session if it is the client's own (a caller's stays open)."""
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None
