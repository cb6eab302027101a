"""The metadata service guests reach at 169.254.169.254 (port 8775, and a UNIX socket).

The network data path runs a proxy in each router and DHCP namespace that forwards
a guest's request here with who asks: ``X-Forwarded-For`` (the guest's address) and
``X-Neutron-Network-ID`` or ``X-Neutron-Router-ID`` (where from). The server is the one
whose port holds that address on that network (or on a network the router serves),
as Neutron's metadata agent and Nova's metadata API find it. It is answered the same
documents as its config drive (:mod:`compute.core.metadata`):

- OpenStack: ``/openstack`` (versions), ``/openstack/<version>/`` (files),
  ``meta_data.json``, ``user_data``, ``network_data.json``, ``vendor_data.json``,
  ``vendor_data2.json``;
- EC2: ``/`` (versions), ``/<version>/meta-data/`` (a tree: ``instance-id``,
  ``local-ipv4``, ``public-ipv4``, ``public-keys/0/openssh-key``, ``placement/...``),
  ``/<version>/user-data``.

A request whose server cannot be found is 404. The service trusts the identity
headers: it listens on the host's loopback and on a socket only the host reaches.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from aiohttp import web

from compute import models as m
from compute.core.metadata import Ec2Ids, drive_data
from compute.virt import configdrive

EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
                "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04", "latest")


class Found(NamedTuple):
    """The server a guest's request comes from, and what its documents need."""

    inst: m.Instance
    network_data: dict[str, Any]
    public_ipv4: str
    ids: Ec2Ids  # as the EC2 API shows them


FindServer = Callable[[str, str | None, str | None], Awaitable[Found | None]]
FINDER: web.AppKey[FindServer] = web.AppKey("metadata_finder")


def _text(body: str | bytes, content_type: str = "text/plain") -> web.Response:
    data = body.encode() if isinstance(body, str) else body
    return web.Response(body=data, content_type=content_type)


async def _server(request: web.Request) -> Found:
    ip = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    network = request.headers.get("X-Neutron-Network-ID")
    router = request.headers.get("X-Neutron-Router-ID")
    if not ip or not (network or router):
        raise web.HTTPBadRequest(text="the metadata proxy's identity headers are missing\n")
    found = await request.app[FINDER](ip, network, router)
    if found is None:
        raise web.HTTPNotFound(text=f"no server has address {ip} here\n")
    return found


def ec2_tree(doc: dict[str, Any]) -> dict[str, Any]:
    """The EC2 meta-data document as the tree its paths walk."""
    tree: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "public-keys" and isinstance(value, dict):
            tree[key] = {f"{i}": {"openssh-key": v["openssh-key"], "_name": v["_name"]}
                         for i, v in value.items()}
        else:
            tree[key] = value
    return tree


def _listing(node: dict[str, Any], public_keys: bool = False) -> str:
    names = []
    for key, value in node.items():
        if key.startswith("_"):
            continue
        if public_keys and isinstance(value, dict):
            names.append(value.get("_name", key))
        elif isinstance(value, dict):
            names.append(f"{key}/")
        else:
            names.append(key)
    return "\n".join(names)


async def root(request: web.Request) -> web.Response:
    return _text("\n".join(EC2_VERSIONS))


async def openstack_root(request: web.Request) -> web.Response:
    return _text("\n".join((*configdrive.OPENSTACK_VERSIONS, "latest")))


async def openstack_files(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    found = await _server(request)
    data = drive_data(found.inst, network_data=found.network_data, ids=found.ids)
    prefix = f"openstack/{version}/"
    files = configdrive.contents(data)
    names = sorted(k[len(prefix):] for k in files if k.startswith(prefix))
    if not names:
        raise web.HTTPNotFound()
    wanted = request.match_info.get("name", "")
    if not wanted:
        return _text("\n".join(names))
    body = files.get(prefix + wanted)
    if body is None:
        raise web.HTTPNotFound()
    return _text(body, "application/json" if wanted.endswith(".json") else "text/plain")


async def ec2(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    if version not in EC2_VERSIONS:
        raise web.HTTPNotFound()
    found = await _server(request)
    tail = request.match_info.get("tail", "")
    data = drive_data(found.inst, network_data=found.network_data,
                      local_ipv4=_fixed_ipv4(found.inst), public_ipv4=found.public_ipv4,
                      ids=found.ids)
    if tail in ("", "/"):
        return _text("meta-data/\nuser-data" if data.user_data is not None else "meta-data/")
    if tail == "user-data":
        if data.user_data is None:
            raise web.HTTPNotFound()
        return _text(data.user_data)
    parts = [p for p in tail.split("/") if p]
    if not parts or parts[0] != "meta-data":
        raise web.HTTPNotFound()
    node: Any = ec2_tree(configdrive.ec2_meta_data(data))
    walked = parts[1:]
    for i, part in enumerate(walked):
        if not isinstance(node, dict):
            raise web.HTTPNotFound()
        if walked[:i] == ["public-keys"] and part not in node:
            part = part.split("=", 1)[0]
        if part not in node:
            raise web.HTTPNotFound()
        node = node[part]
    if isinstance(node, dict):
        return _text(_listing(node, public_keys=walked == ["public-keys"]))
    if isinstance(node, list):
        return _text("\n".join(str(v) for v in node))
    return _text(json.dumps(node) if isinstance(node, bool) else str(node))


def _fixed_ipv4(inst: m.Instance) -> str:
    for vif in inst.interfaces:
        for addr in vif.fixed_ips:
            if int(addr.get("version", 4)) == 4:
                return str(addr["ip_address"])
    return ""


def build_app(finder: FindServer) -> web.Application:
    """The metadata service's app; ``finder`` tells whose request it is."""
    app = web.Application()
    app[FINDER] = finder
    app.router.add_get("/", root)
    app.router.add_get("/openstack", openstack_root)
    app.router.add_get("/openstack/", openstack_root)
    app.router.add_get("/openstack/{version}", openstack_files)
    app.router.add_get("/openstack/{version}/", openstack_files)
    app.router.add_get("/openstack/{version}/{name}", openstack_files)
    app.router.add_get("/{version}", ec2)
    app.router.add_get("/{version}/{tail:.*}", ec2)
    return app
