"""The block store's client: Block Storage API v3 calls, for other Strata services.

The only module of ``blockstore/`` another service may import. Compute uses it as
Nova uses Cinder: volumes (show, create blank, from an image or a snapshot, delete),
snapshots, and the attachments API at Nova's microversions (3.27 create, update with
the host's connector, delete; 3.44 complete), whose ``connection_info`` (iSCSI
portal, IQN, LUN, CHAP) the hypervisor connects to.

A :class:`VolumeClient` acts with one token in one project (the URL's
``/v3/{project_id}``, the token's own project): the token of the user a request acts
for, or the service user's, which the block store lets act on any project's volumes
and attachments (the ``service`` role, as Cinder lets Nova). Failures are
:class:`~common.httpclient.RemoteError`\\ s of the status the block store answered;
:func:`error_message` reads Cinder's message from one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote

from common.httpclient import RemoteError, RemoteUnavailable, ServiceClient, Token

ATTACHMENTS_VERSION = "3.27"
COMPLETE_VERSION = "3.44"


def error_message(exc: RemoteError) -> str:
    """The message of a Cinder error body (``{"badRequest": {"message"}}``), else its text."""
    try:
        doc = json.loads(exc.body)
        inner = next(iter(doc.values())) if isinstance(doc, dict) and doc else {}
        message = inner.get("message") if isinstance(inner, dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.body or exc.message).strip()


class VolumeClient(ServiceClient):
    """Block Storage API v3 at ``url`` (the endpoint, without ``/v3``) in ``project_id``."""

    service = "the block store"

    def __init__(self, url: str, token: Token, project_id: str, **kw: Any) -> None:
        super().__init__(url, token, **kw)
        self.project_id = project_id

    def _url(self, *parts: str) -> str:
        return "/".join([f"{self.base_url}/v3/{quote(self.project_id, safe='')}",
                         *(quote(p, safe="") for p in parts)])

    async def _json(self, method: str, url: str, ok: tuple[int, ...], *,
                    version: str | None = None, body: Any = None) -> dict[str, Any]:
        headers = {"OpenStack-API-Version": f"volume {version}"} if version else None
        return await self.fetch_json(method, url, ok=ok, headers=headers,
                                     **({"json": body} if body is not None else {}))

    # -- volumes ------------------------------------------------------------------------

    async def show_volume(self, volume_id: str) -> dict[str, Any]:
        doc = await self._json("GET", self._url("volumes", volume_id), (200,))
        volume: dict[str, Any] = doc["volume"]
        return volume

    async def create_volume(self, size: int, *, name: str | None = None,
                            image_id: str | None = None, snapshot_id: str | None = None,
                            availability_zone: str | None = None,
                            volume_type: str | None = None,
                            metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """A new volume (``creating``): blank, from an image or from a snapshot."""
        spec: dict[str, Any] = {"size": size}
        for key, value in (("name", name), ("imageRef", image_id),
                           ("snapshot_id", snapshot_id),
                           ("availability_zone", availability_zone),
                           ("volume_type", volume_type)):
            if value is not None:
                spec[key] = value
        if metadata:
            spec["metadata"] = dict(metadata)
        doc = await self._json("POST", self._url("volumes"), (202,),
                               body={"volume": spec})
        volume: dict[str, Any] = doc["volume"]
        return volume

    async def delete_volume(self, volume_id: str) -> None:
        await self.fetch("DELETE", self._url("volumes", volume_id), ok=(202, 204))

    async def wait_volume(self, volume_id: str, statuses: Collection[str], *,
                          within: float = 600.0, interval: float = 0.5) -> dict[str, Any]:
        """The volume once its status is one of ``statuses``. An ``error`` status, or
        ``within`` seconds without one, is a :class:`RemoteUnavailable` saying so."""
        deadline = time.monotonic() + within
        while True:
            volume = await self.show_volume(volume_id)
            if volume.get("status") in statuses:
                return volume
            if str(volume.get("status", "")).startswith("error"):
                raise RemoteUnavailable(f"volume {volume_id} went to status "
                                        f"{volume.get('status')}")
            if time.monotonic() > deadline:
                raise RemoteUnavailable(f"volume {volume_id} is still "
                                        f"{volume.get('status')} after {within:g}s")
            await asyncio.sleep(interval)

    async def volume_action(self, volume_id: str, action: str,
                            args: Mapping[str, Any] | None = None) -> None:
        """A volume action without an answer body (``os-reserve``, ``os-unreserve``,
        ``os-begin_detaching``, ``os-roll_detaching``, ``os-extend``...)."""
        await self.fetch("POST", self._url("volumes", volume_id, "action"),
                         ok=(200, 202, 204), json={action: dict(args or {})})

    # -- snapshots ----------------------------------------------------------------------

    async def create_snapshot(self, volume_id: str, *, name: str | None = None,
                              description: str | None = None,
                              force: bool = False) -> dict[str, Any]:
        spec: dict[str, Any] = {"volume_id": volume_id, "force": force}
        if name is not None:
            spec["name"] = name
        if description is not None:
            spec["description"] = description
        doc = await self._json("POST", self._url("snapshots"), (202,),
                               body={"snapshot": spec})
        snapshot: dict[str, Any] = doc["snapshot"]
        return snapshot

    async def show_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        doc = await self._json("GET", self._url("snapshots", snapshot_id), (200,))
        snapshot: dict[str, Any] = doc["snapshot"]
        return snapshot

    async def delete_snapshot(self, snapshot_id: str) -> None:
        await self.fetch("DELETE", self._url("snapshots", snapshot_id), ok=(202, 204))

    # -- attachments (3.27+) ------------------------------------------------------------

    async def create_attachment(self, volume_id: str, instance_uuid: str, *,
                                connector: Mapping[str, Any] | None = None,
                                mode: str | None = None) -> dict[str, Any]:
        """Reserve the volume for the server (and connect it when ``connector`` is given:
        the answer then holds ``connection_info``)."""
        spec: dict[str, Any] = {"volume_uuid": volume_id, "instance_uuid": instance_uuid}
        if connector is not None:
            spec["connector"] = dict(connector)
        if mode is not None:
            spec["mode"] = mode
        doc = await self._json("POST", self._url("attachments"), (200,),
                               version=ATTACHMENTS_VERSION, body={"attachment": spec})
        attachment: dict[str, Any] = doc["attachment"]
        return attachment

    async def update_attachment(self, attachment_id: str,
                                connector: Mapping[str, Any]) -> dict[str, Any]:
        """Connect a reserved attachment to a host: its ``connection_info``."""
        doc = await self._json("PUT", self._url("attachments", attachment_id), (200,),
                               version=ATTACHMENTS_VERSION,
                               body={"attachment": {"connector": dict(connector)}})
        attachment: dict[str, Any] = doc["attachment"]
        return attachment

    async def complete_attachment(self, attachment_id: str) -> None:
        """The host is using the volume: it becomes ``in-use``."""
        await self.fetch("POST", self._url("attachments", attachment_id, "action"),
                         ok=(200, 204), json={"os-complete": None},
                         headers={"OpenStack-API-Version": f"volume {COMPLETE_VERSION}"})

    async def delete_attachment(self, attachment_id: str) -> None:
        """Detach: the export goes with the volume's last attachment."""
        await self.fetch("DELETE", self._url("attachments", attachment_id), ok=(200, 204),
                         headers={"OpenStack-API-Version": f"volume {ATTACHMENTS_VERSION}"})

    async def show_attachment(self, attachment_id: str) -> dict[str, Any]:
        doc = await self._json("GET", self._url("attachments", attachment_id), (200,),
                               version=ATTACHMENTS_VERSION)
        attachment: dict[str, Any] = doc["attachment"]
        return attachment

    # -- listings (the EC2 front's Describe calls) --------------------------------------

    async def _every(self, collection: str, key: str) -> list[dict[str, Any]]:
        """Every item of a detailed listing, following its ``<key>_links`` pages."""
        out: list[dict[str, Any]] = []
        url: str | None = self._url(collection, "detail")
        while url:
            doc = await self._json("GET", url, (200,))
            out.extend(doc.get(key) or [])
            links = doc.get(f"{key}_links") or []
            url = next((link["href"] for link in links if link.get("rel") == "next"), None)
        return out

    async def list_volumes(self) -> list[dict[str, Any]]:
        """The project's volumes, detailed."""
        return await self._every("volumes", "volumes")

    async def list_snapshots(self) -> list[dict[str, Any]]:
        """The project's snapshots, detailed."""
        return await self._every("snapshots", "snapshots")

    async def list_types(self) -> list[dict[str, Any]]:
        """The volume types the project may use (``id``, ``name``, ...)."""
        doc = await self._json("GET", self._url("types"), (200,))
        return list(doc.get("volume_types") or [])

    async def availability_zones(self) -> list[dict[str, Any]]:
        """The block store's zones (``zoneName``, ``zoneState``)."""
        doc = await self._json("GET", self._url("os-availability-zone"), (200,))
        zones: list[dict[str, Any]] = doc.get("availabilityZoneInfo") or []
        return zones
