"""The dashboard's calls to the public APIs, always with the logged-in user's own token.

Where a service's published client has the calls a page needs, the dashboard
uses it: :class:`imagestore.client.ImageClient` (images, streamed uploads),
:class:`proxy.client.SwiftClient` (containers and objects, streamed both
ways) and :class:`compute.client.ComputeClient` (key pairs, servers, their
actions and volume attachments; :class:`Compute` adds the few reads only the
pages make). For the JSON APIs the pages read and change much more of (Keystone's
projects, users, roles and EC2 credentials; Cinder; Neutron; Glance's JSON
calls), :class:`JsonApi` is a small client of our own on the same
:class:`~common.httpclient.ServiceClient` base, so every failure is the same
:class:`~common.httpclient.RemoteError` and :func:`error_text` words it for a
page from the API's own error body.

Endpoints come from the catalog of the user's token (their public URLs), as
for any other client; the dashboard knows only identity's URL, to log in.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp

from common.errors import NotFound
from common.httpclient import RemoteError, RemoteUnavailable, ServiceClient
from compute.client import ComputeClient
from dashboard.session import Session
from imagestore.client import ImageClient
from proxy.client import SwiftClient

# The microversion the block store pages ask for: volume types' visibility, transfers
# with their own ids, backups' names and the 3.42 extension of in-use volumes.
VOLUME_MICROVERSION = "3.60"
_TAGS = re.compile(r"<[^>]*>")


class ServiceMissing(NotFound):
    """The catalog of the user's token has no such service (it is not deployed, or
    not for this project)."""


def error_text(exc: Exception) -> str:
    """What went wrong, for a person: the API's own message when its error body
    has one (Keystone's, Glance's, Cinder's, Neutron's, Nova's JSON shapes or Swift's
    text), else our own description."""
    if not isinstance(exc, RemoteError):
        return str(getattr(exc, "message", "") or exc)
    if exc.answered is None:
        return exc.message
    message = _message_of(exc.body)
    suffix = f" (HTTP {exc.answered})"
    return (message or exc.message) + suffix


def _message_of(body: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        text = " ".join(html.unescape(_TAGS.sub(" ", body)).split())
        return text[:300]
    if isinstance(doc, dict):
        if isinstance(doc.get("message"), str):
            return str(doc["message"])
        for value in doc.values():  # {"badRequest": {"message": ...}}, {"error": {...}}
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
    return ""


class JsonApi(ServiceClient):
    """JSON calls to one API endpoint (``base_url`` includes any version path)."""

    service: ClassVar[str] = "the service"
    extra_headers: ClassVar[dict[str, str]] = {}

    async def call(self, method: str, path: str, *, body: Any = None,
                   params: Any = None, ok: tuple[int, ...] = (200, 201, 202, 204),
                   headers: dict[str, str] | None = None) -> Any:
        """Send ``body`` as JSON; the decoded answer (None when empty)."""
        hdrs = {"Accept": "application/json", **self.extra_headers, **(headers or {})}
        kw: dict[str, Any] = {"params": params}
        if body is not None:
            kw["data"] = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        reply = await self.fetch(method, self.base_url + path, ok=ok, headers=hdrs, **kw)
        if not reply.body:
            return None
        try:
            return json.loads(reply.body)
        except ValueError as exc:
            raise RemoteUnavailable(f"{self.service} answered {method} {path} with "
                                    "something that is not JSON") from exc

    async def get(self, path: str, params: Any = None) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.call("POST", path, body=body)

    async def put(self, path: str, body: Any = None) -> Any:
        return await self.call("PUT", path, body=body)

    async def patch(self, path: str, body: Any, content_type: str) -> Any:
        return await self.call("PATCH", path, body=body,
                               headers={"Content-Type": content_type})

    async def delete(self, path: str, params: Any = None) -> Any:
        return await self.call("DELETE", path, params=params)


class IdentityApi(JsonApi):
    service = "identity"


class VolumeApi(JsonApi):
    service = "the block store"
    extra_headers = {"OpenStack-API-Version": f"volume {VOLUME_MICROVERSION}"}


class NetworkApi(JsonApi):
    service = "the networking service"


class ImageApi(JsonApi):
    service = "the image service"


class Compute(ComputeClient):
    """The compute client with what only the dashboard asks: the project's limits and
    usage (every project's for admins), a server's action log, snapshot and noVNC
    console and, for admins, every project's servers, the hypervisors and every
    flavor."""

    async def absolute_limits(self) -> dict[str, Any]:
        doc = await self._json("GET", self._url("limits"), (200,))
        absolute: dict[str, Any] = doc.get("limits", {}).get("absolute", {})
        return absolute

    async def list_hypervisors(self) -> list[dict[str, Any]]:
        doc = await self._json("GET", self._url("os-hypervisors", "detail"), (200,))
        return list(doc.get("hypervisors", []))

    async def list_all_flavors(self) -> list[dict[str, Any]]:
        """Public and private flavors (an admin's view)."""
        doc = await self._json("GET", self._url("flavors", "detail"), (200,),
                               params={"is_public": "None"})
        return list(doc.get("flavors", []))

    async def list_all_servers(self) -> list[dict[str, Any]]:
        return await self.list_servers(all_tenants="1")

    async def usage_pages(self, params: dict[str, str],
                          project_id: str = "") -> list[dict[str, Any]]:
        """``os-simple-tenant-usage`` of one project (``tenant_usage``), else of every
        project (an admin's ``tenant_usages``, in detail) over ``params``' period:
        every page's documents, following the next links (microversion 2.40)."""
        path = ("os-simple-tenant-usage", project_id) if project_id else \
            ("os-simple-tenant-usage",)
        key = "tenant_usage" if project_id else "tenant_usages"
        query = dict(params) if project_id else {**params, "detailed": "1"}
        docs: list[dict[str, Any]] = []
        while True:
            doc = await self._json("GET", self._url(*path), (200,), params=query)
            got = doc.get(key) or []
            docs.extend([got] if isinstance(got, dict) else got)
            marker = _next_marker(doc.get(f"{key}_links") or [])
            if not marker or marker == query.get("marker"):
                return docs
            query = {**query, "marker": marker}

    async def create_image(self, server_id: str, name: str) -> str:
        """``createImage``: a snapshot of the server as a new image; its id."""
        doc = await self.action(server_id, "createImage", {"name": name})
        return str(doc.get("image_id", ""))

    async def novnc_url(self, server_id: str) -> str:
        """A noVNC console URL of the server (a one-time token of the console proxy)."""
        doc = await self._json("POST", self._url("servers", server_id, "remote-consoles"),
                               (200,), body={"remote_console": {"protocol": "vnc",
                                                                "type": "novnc"}})
        return str(doc.get("remote_console", {}).get("url", ""))

    async def list_actions(self, server_id: str) -> list[dict[str, Any]]:
        doc = await self._json("GET", self._url("servers", server_id, "os-instance-actions"),
                               (200,))
        return list(doc.get("instanceActions", []))


def _next_marker(links: list[dict[str, Any]]) -> str:
    """The ``marker`` of a listing's next link ("" for none)."""
    for link in links:
        if link.get("rel") == "next":
            return (parse_qs(urlsplit(str(link.get("href", ""))).query).get("marker")
                    or [""])[0]
    return ""


def q(value: str) -> str:
    """One path segment, quoted."""
    return quote(value, safe="")


class Apis:
    """The APIs of one request, as the session's user in its current project."""

    def __init__(self, http: aiohttp.ClientSession, session: Session,
                 identity_url: str) -> None:
        self._http = http
        self.session = session
        self._identity_url = identity_url.rstrip("/")

    def _url(self, *types: str) -> str:
        for t in types:
            url = self.session.endpoint(t)
            if url:
                return url.rstrip("/")
        raise ServiceMissing(f"This cloud offers no {types[0]} service to this project.")

    def has(self, service_type: str) -> bool:
        return self.session.endpoint(service_type) is not None

    def _kw(self) -> dict[str, Any]:
        return {"session": self._http, "read_timeout": 120}

    @property
    def identity(self) -> IdentityApi:
        url = self.session.endpoint("identity") or self._identity_url + "/v3"
        return IdentityApi(url, self.session.token, **self._kw())

    @property
    def volume(self) -> VolumeApi:
        return VolumeApi(self._url("volumev3", "block-storage"), self.session.token,
                         **self._kw())

    @property
    def network(self) -> NetworkApi:
        return NetworkApi(self._url("network") + "/v2.0", self.session.token, **self._kw())

    @property
    def image_json(self) -> ImageApi:
        return ImageApi(self._url("image") + "/v2", self.session.token, **self._kw())

    @property
    def images(self) -> ImageClient:
        """Streamed image data (uploads, downloads) and the client's other calls."""
        return ImageClient(self._url("image"), self.session.token, session=self._http,
                           read_timeout=None)

    @property
    def compute(self) -> Compute:
        url = self._url("compute")  # the catalog's URL names the version; the client adds it
        return Compute(url.removesuffix("/v2.1"), self.session.token, **self._kw())

    @property
    def swift(self) -> SwiftClient:
        """The project's own account."""
        url = self._url("object-store")
        base, sep, account = url.partition("/v1/")
        if not sep:
            raise ServiceMissing("The object store's catalog URL has no /v1/<account>.")
        return SwiftClient(base, self.session.token, account.split("/")[0],
                           session=self._http, read_timeout=300)

    def object_url(self, container: str, name: str = "") -> str:
        """The public URL of a container or of an object in it (anonymous reads of a
        public container use it)."""
        url = f"{self._url('object-store')}/{q(container)}"
        return f"{url}/{quote(name, safe='/')}" if name else url
