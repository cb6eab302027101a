"""Servers as the compute API shows them, at the request's microversion.

:func:`server` builds every field a server can have (the ones that apply: ``fault``
only in ERROR, ``progress`` in the statuses Nova shows it, ``security_groups`` when
there are ports to carry them); the view tables of :mod:`compute.api.fields` keep the
requested microversion's fields. ``addresses`` come from the server's ports, as the
networking service last said them (:class:`Addresses`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from compute import models as m
from compute.api import fields
from compute.api.base import bookmark, links, version
from compute.core import states
from compute.policy import Caller

PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
FAULT_STATUSES = ("ERROR", "DELETED")


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def iso_micro(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def host_id(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: the host, hashed with the project (servers of one project on one
    host share it; other projects cannot tell hosts apart)."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


@dataclass
class Extra:
    """What a server's view needs beyond its row: addresses by network name, its host's
    status, its groups, the libvirt name of its guest."""

    addresses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    host_status: str = ""
    groups: list[str] = field(default_factory=list)
    instance_name: str = ""


def addresses(inst: m.Instance, *, extended: bool = True,
              floating: Mapping[str, list[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
    """``addresses`` from the server's ports: fixed IPs (and their floating IPs)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for vif in inst.interfaces:
        name = vif.network_name or vif.network_id
        items = out.setdefault(name, [])
        for addr in vif.fixed_ips:
            ip = str(addr["ip_address"])
            entries = [(ip, int(addr.get("version", 4)), "fixed")]
            entries += [(f, 4, "floating") for f in (floating or {}).get(ip, [])]
            for address, ver, kind in entries:
                item: dict[str, Any] = {"version": ver, "addr": address}
                if extended:
                    item["OS-EXT-IPS:type"] = kind
                    item["OS-EXT-IPS-MAC:mac_addr"] = vif.mac_address
                items.append(item)
    return out


def addresses_from_ports(ports: list[dict[str, Any]], names: Mapping[str, str],
                         floating: Mapping[str, list[str]]
                         ) -> dict[str, list[dict[str, Any]]]:
    """``addresses`` from the networking service's ports (their floating IPs by fixed
    address), as it says them now."""
    out: dict[str, list[dict[str, Any]]] = {}
    for port in ports:
        items = out.setdefault(names.get(port["network_id"], port["network_id"]), [])
        for fixed in port.get("fixed_ips", []):
            ip = str(fixed["ip_address"])
            entries = [(ip, "fixed"), *((f, "floating") for f in floating.get(ip, []))]
            for address, kind in entries:
                items.append({"version": 6 if ":" in address else 4, "addr": address,
                              "OS-EXT-IPS:type": kind,
                              "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    return out


def _flavor(request: web.Request, inst: m.Instance) -> dict[str, Any]:
    flavor = inst.flavor or {}
    if version(request).at_least(47):
        out: dict[str, Any] = {
            "vcpus": flavor.get("vcpus"), "ram": flavor.get("memory_mb"),
            "disk": flavor.get("root_gb"), "ephemeral": flavor.get("ephemeral_gb", 0),
            "swap": flavor.get("swap", 0), "original_name": flavor.get("name")}
        out["extra_specs"] = dict(flavor.get("extra_specs") or {})
        return out
    fid = str(flavor.get("flavorid", ""))
    return {"id": fid, "links": bookmark(request, "flavors", fid)}


def _fault(inst: m.Instance, is_admin: bool) -> dict[str, Any] | None:
    fault = inst.fault
    if not fault:
        return None
    out = {"code": fault.get("code", 500), "created": fault.get("created"),
           "message": fault.get("message", "")}
    if is_admin or out["code"] != 500:
        out["details"] = fault.get("details", "")
    return out


def server(request: web.Request, who: Caller, inst: m.Instance, extra: Extra, *,
           view: fields.View = fields.SERVER, extend_addresses: bool = True,
           admin_pass: str | None = None) -> dict[str, Any]:
    status = states.status(inst.vm_state, inst.task_state)
    minor = version(request).minor
    # an offloaded server is on no host (it keeps the row's host to come back to)
    host = None if inst.vm_state == states.SHELVED_OFFLOADED else inst.host
    volumes = [b for b in inst.block_devices if b.destination_type == "volume"
               and b.volume_id]
    attached: list[dict[str, Any]] = []
    for bdm in volumes:
        item: dict[str, Any] = {"id": bdm.volume_id}
        if minor >= 3:
            item["delete_on_termination"] = bdm.delete_on_termination
        attached.append(item)
    values: dict[str, Any] = {
        "id": inst.uuid, "name": inst.display_name, "status": status,
        "tenant_id": inst.project_id, "user_id": inst.user_id,
        "metadata": dict(inst.metadata_ or {}), "hostId": host_id(inst.project_id, host),
        "image": {"id": inst.image_ref, "links": bookmark(request, "images", inst.image_ref)}
        if inst.image_ref else "",
        "flavor": _flavor(request, inst), "created": iso(inst.created_at),
        "updated": iso(inst.updated_at),
        "addresses": extra.addresses if extend_addresses else {
            net: [{"version": a["version"], "addr": a["addr"]} for a in items]
            for net, items in extra.addresses.items()},
        "accessIPv4": inst.access_ip_v4 or "", "accessIPv6": inst.access_ip_v6 or "",
        "links": links(request, "servers", inst.uuid), "OS-DCF:diskConfig": "MANUAL",
        "locked": bool(inst.locked), "description": inst.display_description,
        "tags": [t.tag for t in inst.tags], "trusted_image_certificates": None,
        "locked_reason": inst.locked_reason if inst.locked else None,
        "OS-EXT-AZ:availability_zone": inst.availability_zone or "",
        "config_drive": "True" if inst.config_drive else "",
        "key_name": inst.key_name,
        "OS-SRV-USG:launched_at": iso_micro(inst.launched_at),
        "OS-SRV-USG:terminated_at": iso_micro(inst.terminated_at),
        "OS-EXT-SRV-ATTR:host": host,
        "OS-EXT-SRV-ATTR:instance_name": extra.instance_name,
        "OS-EXT-SRV-ATTR:hypervisor_hostname": inst.node if host else None,
        "OS-EXT-SRV-ATTR:reservation_id": inst.reservation_id,
        "OS-EXT-SRV-ATTR:launch_index": inst.launch_index,
        "OS-EXT-SRV-ATTR:hostname": inst.hostname,
        "OS-EXT-SRV-ATTR:kernel_id": inst.kernel_id or "",
        "OS-EXT-SRV-ATTR:ramdisk_id": inst.ramdisk_id or "",
        "OS-EXT-SRV-ATTR:root_device_name": inst.root_device_name,
        "OS-EXT-SRV-ATTR:user_data": inst.user_data,
        "OS-EXT-STS:task_state": inst.task_state, "OS-EXT-STS:vm_state": inst.vm_state,
        "OS-EXT-STS:power_state": inst.power_state,
        "os-extended-volumes:volumes_attached": attached,
        "host_status": extra.host_status if host else "", "server_groups": list(extra.groups),
    }
    if status in PROGRESS_STATUSES:
        values["progress"] = inst.progress or 0
    if status in FAULT_STATUSES:
        fault = _fault(inst, who.is_admin)
        if fault is not None:
            values["fault"] = fault
    if inst.interfaces and inst.security_groups:
        values["security_groups"] = [{"name": g["name"]} for g in inst.security_groups]
    if admin_pass is not None:
        values["adminPass"] = admin_pass
    return view.render(values, minor, who.is_admin)


def brief(request: web.Request, inst: m.Instance) -> dict[str, Any]:
    return fields.SERVER_BRIEF.render(
        {"id": inst.uuid, "name": inst.display_name,
         "links": links(request, "servers", inst.uuid)}, version(request).minor)
