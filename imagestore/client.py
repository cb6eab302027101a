"""The image service's client: Images API v2 calls, for other Strata services and tools.

The only module of ``imagestore/`` another service may import. An
:class:`ImageClient` speaks to one image endpoint with one token: usually the
token of the user a request acts for, passed on, so the image service applies
that user's rights (a private image stays theirs); or a coroutine function
answering a service token.

Image data is streamed both ways: ``upload`` takes bytes, a file or an async
iterator of chunks, and ``download`` answers a
:class:`~common.httpclient.Download` read as it arrives. Every failure is a
:class:`~common.httpclient.RemoteError` of the status the image service
answered (``Forbidden`` for 403, ``NotFound`` for 404, ``BadRequest`` for
another 4xx, ``Unavailable`` for a 5xx or no answer), with the status in
``answered`` and the start of Glance's error body in ``body``
(:func:`error_message` reads its message).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterable, Mapping
from typing import IO, Any
from urllib.parse import quote

from common.httpclient import Download, RemoteError, RemoteUnavailable, ServiceClient

Body = bytes | IO[bytes] | AsyncIterable[bytes]


def error_message(exc: RemoteError) -> str:
    """The message of a Glance error body (``{"error": {"message"}}`` or
    ``{"message"}``), else the body's text."""
    try:
        doc = json.loads(exc.body)
        message = (doc.get("error") or {}).get("message") or doc.get("message") or exc.body
    except (ValueError, AttributeError):
        message = exc.body
    return str(message).strip()


class ImageClient(ServiceClient):
    """Images API v2 at ``image_url`` (the endpoint, without ``/v2``)."""

    service = "the image service"

    def _image_url(self, image_id: str, *parts: str) -> str:
        return "/".join([f"{self.base_url}/v2/images/{quote(image_id, safe='')}", *parts])

    async def _json(self, method: str, url: str, ok: tuple[int, ...],
                    **kw: Any) -> dict[str, Any]:
        reply = await self.fetch(method, url, ok=ok, **kw)
        try:
            doc = json.loads(reply.body)
        except ValueError as exc:
            raise RemoteUnavailable(f"{self.service} answered {method} {url} with "
                                    "something that is not JSON") from exc
        if not isinstance(doc, dict):
            raise RemoteUnavailable(f"{self.service} answered {method} {url} with "
                                    "something that is not an image")
        return doc

    async def create(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A new (queued) image with ``fields`` (name, disk_format, container_format,
        visibility, extra properties, ...); its JSON."""
        return await self._json("POST", f"{self.base_url}/v2/images", (201,),
                                json=dict(fields))

    async def list(self, **filters: str) -> list[dict[str, Any]]:
        """Images visible to the caller matching ``filters`` (``name=``, ``status=``,
        ...), following every page."""
        out: list[dict[str, Any]] = []
        url: str | None = f"{self.base_url}/v2/images"
        params: dict[str, str] | None = dict(filters)
        while url:
            page = await self._json("GET", url, (200,), params=params)
            out.extend(page.get("images", []))
            nxt = page.get("next")
            url, params = (f"{self.base_url}{nxt}", None) if nxt else (None, None)
        return out

    async def show(self, image_id: str) -> dict[str, Any]:
        """The image's JSON (``status``, ``size``, ``virtual_size``, ``min_disk``, ...)."""
        return await self._json("GET", self._image_url(image_id), (200,))

    async def upload(self, image_id: str, data: Body) -> None:
        """Send the image's data (the image must be queued); the service checks it
        and makes the image active."""
        await self.fetch("PUT", self._image_url(image_id, "file"), ok=(204,), data=data,
                         headers={"Content-Type": "application/octet-stream"})

    async def download(self, image_id: str) -> Download:
        """The image's data as it arrives (close it when not read to its end)."""
        resp = await self.open("GET", self._image_url(image_id, "file"), ok=(200,))
        return Download(resp, self.service)

    async def delete(self, image_id: str) -> None:
        """Delete the image and its data."""
        await self.fetch("DELETE", self._image_url(image_id), ok=(204,))

    async def update(self, image_id: str,
                     ops: builtins.list[dict[str, Any]]) -> dict[str, Any]:
        """Apply a JSON patch (``[{"op": "replace", "path": "/visibility", "value":
        "public"}]``); the image's JSON after it."""
        return await self._json(
            "PATCH", self._image_url(image_id), (200,), data=json.dumps(ops),
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})

    async def members(self, image_id: str) -> builtins.list[dict[str, Any]]:
        """The projects the image is shared with (``member_id``, ``status``)."""
        found: builtins.list[dict[str, Any]] = (await self._json(
            "GET", self._image_url(image_id, "members"), (200,))).get("members", [])
        return found

    async def add_member(self, image_id: str, project_id: str) -> dict[str, Any]:
        """Share the image with a project (a ``shared`` image)."""
        return await self._json("POST", self._image_url(image_id, "members"), (200,),
                                json={"member": project_id})

    async def remove_member(self, image_id: str, project_id: str) -> None:
        await self.fetch("DELETE", self._image_url(image_id, "members",
                                                   quote(project_id, safe="")), ok=(204,))
