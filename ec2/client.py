"""The EC2 front's client: the only module of ``ec2/`` another service may import.

Compute's metadata service answers the EC2 paths (``/latest/meta-data/instance-id``,
``ami-id``, ...) with the same ids the EC2 API shows. It asks the front with its
service token: :meth:`Ec2Client.ec2_ids` maps native UUIDs to EC2 ids, giving
ids to resources seen for the first time, so a server made natively gets its
``i-`` id the first time its metadata is read, and keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from common.httpclient import RemoteUnavailable, ServiceClient

INSTANCE, IMAGE, VOLUME, SNAPSHOT = "instance", "image", "volume", "snapshot"
RESERVATION, KEY_PAIR, NETWORK_INTERFACE = "reservation", "key_pair", "network_interface"


def image_prefix(container_format: str | None, disk_format: str | None) -> str:
    """The prefix of an image's EC2 id: ``aki``/``ari`` for kernels and ramdisks, else
    ``ami``."""
    for fmt in ("aki", "ari"):
        if fmt in (container_format, disk_format):
            return fmt
    return "ami"


class Ec2Client(ServiceClient):
    """The EC2 front at ``url`` (its base URL), with a service (or admin) token."""

    service = "the EC2 front"

    async def ec2_ids(self, kind: str, uuids: Iterable[str],
                      prefixes: Mapping[str, str] | None = None) -> dict[str, str]:
        """uuid -> EC2 id of each native id of ``kind`` (``instance``, ``image``,
        ``volume``...); ``prefixes`` names the prefix a new image id takes."""
        wanted = list(dict.fromkeys(uuids))
        if not wanted:
            return {}
        body: dict[str, Any] = {"kind": kind, "uuids": wanted}
        if prefixes:
            body["prefixes"] = dict(prefixes)
        reply = await self.fetch("POST", f"{self.base_url}/internal/ids", ok=(200,),
                                 json=body)
        try:
            found = json.loads(reply.body)["ids"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteUnavailable(f"{self.service} answered its ids with something "
                                    "that is not a JSON map") from exc
        return {str(k): str(v) for k, v in found.items()}

    async def ec2_id(self, kind: str, uuid: str, prefix: str | None = None) -> str:
        """The EC2 id of one native id."""
        found = await self.ec2_ids(kind, [uuid], {uuid: prefix} if prefix else None)
        return found[uuid]
