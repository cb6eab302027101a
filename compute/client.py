"""The compute service's client: Compute API v2.1 calls, for other Strata services.

The only module of ``compute/`` another service may import. The EC2 front uses it
for key pairs (``/os-keypairs``), servers (create, list, show, delete), their
actions (stop, start, reboot, console output) and volume attachments, with the
token of the user a request acts for, so compute's own policy decides.

Calls name a microversion (``OpenStack-API-Version: compute <v>``); the default,
:data:`VERSION`, shows a flavor's name in a server and takes a key pair's type.
Server creation at :data:`CREATE_VERSION` leaves ``networks`` optional (absent: the
project's one usable network, or none). Failures are
:class:`~common.httpclient.RemoteError`\\ s of the status compute answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from common.httpclient import RemoteUnavailable, ServiceClient

VERSION = "2.79"
CREATE_VERSION = "2.36"
TYPED_VOLUMES_VERSION = "2.67"  # block device mappings naming a volume_type


class ComputeClient(ServiceClient):
    """Compute API v2.1 at ``url`` (the endpoint, without ``/v2.1``)."""

    service = "the compute service"

    def _url(self, *parts: str) -> str:
        return "/".join([f"{self.base_url}/v2.1", *(quote(p, safe="") for p in parts)])

    async def _json(self, method: str, url: str, ok: tuple[int, ...], *,
                    version: str = VERSION, body: Any = None,
                    params: Mapping[str, str] | None = None) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if body is not None:
            kw["json"] = body
        if params:
            kw["params"] = dict(params)
        return await self.fetch_json(
            method, url, ok=ok, headers={"OpenStack-API-Version": f"compute {version}"}, **kw)

    # -- key pairs ------------------------------------------------------------------------

    async def list_keypairs(self) -> list[dict[str, Any]]:
        """The caller's key pairs (name, fingerprint, public_key, type)."""
        doc = await self._json("GET", self._url("os-keypairs"), (200,))
        return [item["keypair"] for item in doc.get("keypairs", [])]

    async def show_keypair(self, name: str) -> dict[str, Any]:
        doc = await self._json("GET", self._url("os-keypairs", name), (200,))
        keypair: dict[str, Any] = doc["keypair"]
        return keypair

    async def create_keypair(self, name: str, public_key: str | None = None) -> dict[str, Any]:
        """Import ``public_key``, or (None) have compute generate an ssh key pair, whose
        ``private_key`` is in this answer only."""
        body: dict[str, Any] = {"name": name, "type": "ssh"}
        if public_key is not None:
            body["public_key"] = public_key
        doc = await self._json("POST", self._url("os-keypairs"), (200, 201),
                               body={"keypair": body})
        keypair: dict[str, Any] = doc["keypair"]
        return keypair

    async def delete_keypair(self, name: str) -> None:
        await self._json("DELETE", self._url("os-keypairs", name), (202, 204))

    # -- flavors --------------------------------------------------------------------------

    async def list_flavors(self) -> list[dict[str, Any]]:
        """The flavors the caller may use (id, name, ram, vcpus, disk, ...)."""
        doc = await self._json("GET", self._url("flavors", "detail"), (200,))
        return list(doc.get("flavors", []))

    # -- servers --------------------------------------------------------------------------

    async def create_servers(self, server: Mapping[str, Any],
                             version: str = CREATE_VERSION) -> str:
        """Create ``min_count``..``max_count`` servers of one request (all or none); the
        reservation id that names them. From 2.37 ``networks`` must be given."""
        body = {**server, "return_reservation_id": True}
        doc = await self._json("POST", self._url("servers"), (202,), version=version,
                               body={"server": body})
        reservation = doc.get("reservation_id")
        if not isinstance(reservation, str):
            raise RemoteUnavailable(f"{self.service} named no reservation of the servers "
                                    "it made")
        return reservation

    async def list_servers(self, **query: str) -> list[dict[str, Any]]:
        """The caller's servers in detail matching ``query`` (``reservation_id``,
        ``changes-since``, ``deleted``, ...), following every page."""
        out: list[dict[str, Any]] = []
        params = dict(query)
        while True:
            doc = await self._json("GET", self._url("servers", "detail"), (200,),
                                   params=params)
            page = list(doc.get("servers", []))
            out.extend(page)
            if not doc.get("servers_links") or not page:
                return out
            params = {**dict(query), "marker": str(page[-1]["id"])}

    async def show_server(self, server_id: str) -> dict[str, Any]:
        doc = await self._json("GET", self._url("servers", server_id), (200,))
        server: dict[str, Any] = doc["server"]
        return server

    async def delete_server(self, server_id: str) -> None:
        await self._json("DELETE", self._url("servers", server_id), (204,))

    async def action(self, server_id: str, name: str, args: Any = None) -> dict[str, Any]:
        """``POST /servers/{id}/action`` of ``{name: args}``; its answer (often none)."""
        return await self._json("POST", self._url("servers", server_id, "action"),
                                (200, 202), body={name: args})

    async def console_output(self, server_id: str, length: int | None = None) -> str:
        doc = await self.action(server_id, "os-getConsoleOutput", {"length": length})
        return str(doc.get("output", ""))

    # -- volume attachments ---------------------------------------------------------------

    async def attach_volume(self, server_id: str, volume_id: str,
                            device: str | None = None) -> dict[str, Any]:
        """Attach a volume; the attachment (``device``, ``serverId``, ``volumeId``)."""
        body: dict[str, Any] = {"volumeId": volume_id}
        if device:
            body["device"] = device
        doc = await self._json("POST", self._url("servers", server_id,
                                                 "os-volume_attachments"), (200,),
                               body={"volumeAttachment": body})
        attachment: dict[str, Any] = doc["volumeAttachment"]
        return attachment

    async def detach_volume(self, server_id: str, volume_id: str) -> None:
        await self._json("DELETE", self._url("servers", server_id, "os-volume_attachments",
                                             volume_id), (202,))
