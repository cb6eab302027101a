"""What a guest is told about itself: one source for its config drive and the metadata
service, so both say the same (``meta_data.json``, ``user_data``,
``network_data.json``, ``vendor_data.json``, the EC2 ``meta-data``)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.httpclient import RemoteUnavailable
from compute import models as m
from compute.virt.configdrive import ConfigDriveData
from ec2.client import IMAGE, INSTANCE, Ec2Client

log = logging.getLogger(__name__)


def ec2_id(kind: str, uuid: str) -> str:
    """An EC2-style id (``i-0123abcd``) for a server or image uuid, used only when the
    EC2 front does not run (it gives the ids the EC2 API shows: :func:`ec2_ids`)."""
    return f"{kind}-{uuid.replace('-', '')[:8]}"


@dataclass(frozen=True)
class Ec2Ids:
    instance: str
    image: str  # "" for a server booted from a volume


async def ec2_ids(client: Ec2Client | None, inst: m.Instance,
                  known: dict[str, Ec2Ids] | None = None) -> Ec2Ids:
    """The server's and its image's EC2 ids as the EC2 API shows them (given now if
    they were never shown), or made up from the uuids when the EC2 front does not run
    or cannot answer (said in the log: the guest then sees ids the API does not).
    ``known`` keeps the front's answers (an id never changes): a guest reading its
    metadata path by path asks the front once."""
    fallback = Ec2Ids(ec2_id("i", inst.uuid),
                      ec2_id("ami", inst.image_ref) if inst.image_ref else "")
    if client is None:
        return fallback
    if known is not None and inst.uuid in known:
        return known[inst.uuid]
    try:
        instance = await client.ec2_id(INSTANCE, inst.uuid)
        image = await client.ec2_id(IMAGE, inst.image_ref, "ami") if inst.image_ref else ""
    except (RemoteUnavailable, KeyError) as exc:
        log.warning("the EC2 front did not give server %s its EC2 ids (%s); its metadata "
                    "shows ids made from its uuids", inst.uuid, exc)
        return fallback
    ids = Ec2Ids(instance, image)
    if known is not None:
        known[inst.uuid] = ids
    return ids


def drive_data(inst: m.Instance, *, network_data: Mapping[str, Any] | None = None,
               local_ipv4: str = "", public_ipv4: str = "",
               vendor_data: Mapping[str, Any] | None = None,
               ids: Ec2Ids | None = None) -> ConfigDriveData:
    keys = {inst.key_name: inst.key_data} if inst.key_name and inst.key_data else {}
    user_data = base64.b64decode(inst.user_data) if inst.user_data else None
    files = tuple((path, base64.b64decode(data)) for path, data in inst.personality or [])
    return ConfigDriveData(
        uuid=inst.uuid, name=inst.display_name, hostname=inst.hostname,
        project_id=inst.project_id, availability_zone=inst.availability_zone or "",
        launch_index=inst.launch_index, public_keys=keys, user_data=user_data,
        meta=dict(inst.metadata_ or {}), network_data=dict(network_data or {
            "links": [], "networks": [], "services": []}),
        vendor_data=dict(vendor_data or {}), files=files,
        ec2_instance_id=ids.instance if ids else ec2_id("i", inst.uuid),
        ami_id=ids.image if ids else ec2_id("ami", inst.image_ref) if inst.image_ref else "",
        instance_type=str((inst.flavor or {}).get("name", "")),
        reservation_id=inst.reservation_id,
        security_groups=tuple(g["name"] for g in inst.security_groups or []),
        local_ipv4=local_ipv4, public_ipv4=public_ipv4)


def find_by_ip(s: Session, ip: str, network_ids: Sequence[str]) -> m.Instance | None:
    """The live server whose port holds ``ip`` on one of ``network_ids``."""
    if not network_ids:
        return None
    rows = s.scalars(select(m.VirtualInterface).where(
        m.VirtualInterface.network_id.in_(list(network_ids))))
    for vif in rows:
        if any(a.get("ip_address") == ip for a in vif.fixed_ips):
            inst = s.get(m.Instance, vif.instance_uuid)
            if inst is not None and not inst.deleted:
                return inst
    return None
