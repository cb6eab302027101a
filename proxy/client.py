"""The object store's client: Swift v1 calls to the proxy, for other Strata services.

The only module of ``proxy/`` another service may import. One
:class:`SwiftClient` works in one account (``AUTH_<project_id>``) with one token
source: a user's token passed on, or the internal service user's (
:meth:`SwiftClient.for_service`: its token and its project's account, where
the image service keeps images and the block store backups; the ``service``
role may use any account, as Swift's reseller).

Bodies are streamed both ways: ``put_object`` takes bytes, a file or an async
iterator of chunks (sent chunked when its length is not known), and
``get_object`` answers a :class:`~common.httpclient.Download` read as it
arrives. Every failure is a :class:`~common.httpclient.RemoteError` of the
status the proxy answered (``NotFound`` for a 404, ``TooLarge`` for a quota's
413, ``InsufficientStorage`` for 507, ``Unavailable`` for a 5xx or no answer),
with the status itself in ``answered``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from typing import IO, Any
from urllib.parse import quote, unquote

import aiohttp

from common.httpclient import Download, RemoteUnavailable, ServiceClient, Token
from identity.client import TokenValidator

RESELLER_PREFIX = "AUTH_"  # a project's account is AUTH_<project_id>
LISTING_LIMIT = 1000  # names asked for per listing page
DELETE_CONCURRENCY = 8  # DELETEs in flight at once in delete_objects

Body = bytes | IO[bytes] | AsyncIterable[bytes]


def project_account(project_id: str) -> str:
    """The Swift account of a project."""
    return f"{RESELLER_PREFIX}{project_id}"


def service_account(validator: TokenValidator) -> Callable[[], Awaitable[str]]:
    """A coroutine function answering the service user's own account."""
    async def account() -> str:
        return project_account(await validator.service_project_id())

    return account


def unquote_etag(value: str | None) -> str:
    """An ETag header's MD5, without quotes, in lower case ("" when there is none)."""
    return (value or "").strip().strip('"').lower()


class SwiftClient(ServiceClient):
    """Swift v1 calls in one account. ``account`` is its name, or a coroutine function
    answering it (asked once, on the first call)."""

    service = "the object store"

    def __init__(self, proxy_url: str, token: Token, account: str | Callable[[], Awaitable[str]],
                 *, session: aiohttp.ClientSession | None = None, conn_timeout: float = 10,
                 read_timeout: float = 300) -> None:
        super().__init__(proxy_url, token, session=session, conn_timeout=conn_timeout,
                         read_timeout=read_timeout)
        self._account = account
        self._account_url: str | None = None
        self._containers: set[str] = set()  # made (or found) by ensure_container

    @classmethod
    def for_service(cls, proxy_url: str, validator: TokenValidator, *,
                    session: aiohttp.ClientSession | None = None,
                    **kw: float) -> SwiftClient:
        """A client in the service user's own account, with its token."""
        return cls(proxy_url, validator.service_token, service_account(validator),
                   session=session, **kw)

    # -- addresses --------------------------------------------------------------------

    async def account_url(self) -> str:
        if self._account_url is None:
            account = self._account
            if not isinstance(account, str):
                try:
                    account = await account()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    raise RemoteUnavailable(f"cannot authenticate to {self.service}") \
                        from exc
            self._account_url = f"{self.base_url}/v1/{quote(account, safe='')}"
        return self._account_url

    def describe(self, url: str) -> str:
        """``container/object``: messages do not show the account."""
        if self._account_url is not None and url.startswith(self._account_url + "/"):
            return unquote(url[len(self._account_url) + 1:])
        return super().describe(url)

    async def url(self, container: str, obj: str | None = None) -> str:
        """The URL of a container, or of an object in it (``/`` kept in its name)."""
        url = f"{await self.account_url()}/{quote(container, safe='')}"
        return url if obj is None else f"{url}/{quote(obj, safe='/')}"

    # -- containers -------------------------------------------------------------------

    async def create_container(self, container: str,
                               headers: Mapping[str, str] | None = None) -> None:
        """PUT the container (creating it, or updating its metadata)."""
        await self.fetch("PUT", await self.url(container), ok=(201, 202, 204),
                         headers=dict(headers or {}))

    async def ensure_container(self, container: str) -> None:
        """Create the container unless this client did so already."""
        if container not in self._containers:
            await self.create_container(container)
            self._containers.add(container)

    def forget_container(self, container: str) -> None:
        """The container went away: the next ``ensure_container`` creates it again."""
        self._containers.discard(container)

    async def list_containers(self, *, marker: str = "", limit: int = LISTING_LIMIT) -> \
            tuple[list[dict[str, Any]], Mapping[str, str]]:
        """One page of the account's containers (name, count, bytes, last_modified) and
        the account's headers (its totals, its metadata)."""
        reply = await self.fetch("GET", await self.account_url(), ok=(200, 204), params={
            "format": "json", "marker": marker, "limit": str(limit)})
        return self._page(reply.body, reply.status), reply.headers

    async def list_page(self, container: str, *, prefix: str = "", delimiter: str = "",
                        marker: str = "", limit: int = LISTING_LIMIT) -> \
            tuple[list[dict[str, Any]], Mapping[str, str]]:
        """One page of a container's listing (objects, and ``subdir`` entries for the
        pseudo-folders a ``delimiter`` folds) and the container's headers."""
        params = {"format": "json", "prefix": prefix, "marker": marker, "limit": str(limit)}
        if delimiter:
            params["delimiter"] = delimiter
        reply = await self.fetch("GET", await self.url(container), ok=(200, 204),
                                 params=params)
        return self._page(reply.body, reply.status), reply.headers

    def _page(self, body: bytes, status: int) -> list[dict[str, Any]]:
        try:
            page = json.loads(body) if status == 200 and body else []
        except ValueError as exc:
            raise RemoteUnavailable(f"{self.service} sent a bad listing") from exc
        if not isinstance(page, list):
            raise RemoteUnavailable(f"{self.service} sent a bad listing")
        return page

    async def head_container(self, container: str) -> Mapping[str, str]:
        """The container's headers (counts, ACLs, metadata); ``NotFound`` when absent."""
        return (await self.fetch("HEAD", await self.url(container), ok=(204, 200))).headers

    async def post_container(self, container: str, headers: Mapping[str, str]) -> None:
        """Change the container's metadata or ACLs (``X-Remove-...`` headers remove)."""
        await self.fetch("POST", await self.url(container), ok=(204,), headers=dict(headers))

    async def delete_container(self, container: str) -> None:
        """Delete an empty container (``Conflict`` while it holds objects)."""
        await self.fetch("DELETE", await self.url(container), ok=(204,))
        self.forget_container(container)

    async def post_object(self, container: str, name: str,
                          headers: Mapping[str, str]) -> None:
        """Replace the object's metadata with ``headers``' (Swift's POST)."""
        await self.fetch("POST", await self.url(container, name), ok=(202,),
                         headers=dict(headers))

    async def list_objects(self, container: str, *, prefix: str = "",
                           limit: int = LISTING_LIMIT) -> AsyncIterator[dict[str, Any]]:
        """Every object in the container whose name starts with ``prefix`` (the JSON
        listing's entries: name, bytes, hash, ...), page by page; none when the
        container does not exist."""
        marker = ""
        url = await self.url(container)
        while True:
            reply = await self.fetch("GET", url, ok=(200, 204, 404), params={
                "format": "json", "prefix": prefix, "marker": marker, "limit": str(limit)})
            page = self._page(reply.body, reply.status)
            for item in page:
                yield item
            if len(page) < limit:
                return
            marker = str(page[-1]["name"])

    # -- objects ----------------------------------------------------------------------

    async def put_object(self, container: str, name: str, data: Body, *,
                         etag: str | None = None,
                         content_type: str = "application/octet-stream",
                         headers: Mapping[str, str] | None = None,
                         params: Mapping[str, str] | None = None) -> str:
        """Store an object; the ETag the object store answers (its MD5). With ``etag``
        the store checks the body against it (a mismatch is ``Unprocessable``)."""
        hdrs = {"Content-Type": content_type, **(headers or {})}
        if etag is not None:
            hdrs["ETag"] = etag
        reply = await self.fetch("PUT", await self.url(container, name), ok=(201,),
                                 headers=hdrs, data=data, params=dict(params or {}))
        return unquote_etag(reply.headers.get("ETag"))

    async def put_manifest(self, container: str, name: str,
                           segments: list[dict[str, Any]]) -> None:
        """A static large object made of ``segments`` (each ``path``
        ``/<container>/<name>``, ``etag`` and ``size_bytes``)."""
        await self.put_object(container, name, json.dumps(segments).encode(),
                              content_type="application/json",
                              params={"multipart-manifest": "put"})

    async def head_object(self, container: str, name: str) -> Mapping[str, str] | None:
        """The object's headers; None when there is no such object."""
        reply = await self.fetch("HEAD", await self.url(container, name), ok=(200, 404))
        return reply.headers if reply.status == 200 else None

    async def get_object(self, container: str, name: str, *,
                         headers: Mapping[str, str] | None = None) -> Download:
        """The object's bytes as they arrive (a ``Range`` header gives a 206 with just
        those; one starting past the end is a ``RemoteError`` answered 416)."""
        resp = await self.open("GET", await self.url(container, name), ok=(200, 206),
                               headers=dict(headers or {}))
        return Download(resp, self.service)

    async def read_object(self, container: str, name: str) -> bytes:
        """The whole object (small ones only)."""
        async with await self.get_object(container, name) as download:
            return await download.read()

    async def delete_object(self, container: str, name: str) -> bool:
        """Delete the object; False when there was none."""
        reply = await self.fetch("DELETE", await self.url(container, name), ok=(204, 404))
        return reply.status == 204

    async def delete_manifest(self, container: str, name: str) -> dict[str, Any]:
        """Delete a static large object and its segments; the bulk-delete result
        (``Response Status``, ``Number Deleted``, ``Errors``, ...)."""
        reply = await self.fetch("DELETE", await self.url(container, name), ok=(200,),
                                 params={"multipart-manifest": "delete"},
                                 headers={"Accept": "application/json"})
        try:
            outcome = json.loads(reply.body)
        except ValueError as exc:
            raise RemoteUnavailable(f"{self.service} answered a delete with nonsense") \
                from exc
        return outcome if isinstance(outcome, dict) else {}

    async def delete_objects(self, container: str, names: list[str], *,
                             concurrency: int = DELETE_CONCURRENCY) -> None:
        """Delete each object (a missing one is fine), ``concurrency`` at a time."""
        limit = asyncio.Semaphore(concurrency)

        async def one(name: str) -> None:
            async with limit:
                await self.delete_object(container, name)

        await asyncio.gather(*(one(n) for n in names))
