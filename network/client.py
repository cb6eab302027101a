"""How other Strata services use the networking service (the only module they import).

:class:`NetworkClient` speaks the Networking API v2.0 over HTTP with a token the
caller supplies (compute: its service user's, whose ``service`` role sees every
port and may bind ports to hosts). Errors come back as the
``common.httpclient.RemoteError`` of the answer's status (so ``common.errors``
classes), with Neutron's message; :func:`neutron_type` reads the error's type.
Compute uses it to create, show, update and delete ports, bind them to a host (``binding:host_id``,
which makes the host's agent plug a tap into the network's bridge), list
networks, build a guest's ``network_data.json`` (:meth:`network_data`) and, for
the metadata service, find the port behind a guest's address
(:meth:`find_port_by_ip`). The EC2 front reaches any resource with the caller's
token through :meth:`list_of`, :meth:`show_one`, :meth:`create_one`,
:meth:`update_one` and :meth:`delete_one`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from common.errors import BadRequest
from common.httpclient import RemoteError, RemoteUnavailable, remote_error
from network.dataplane.model import OWNER_ROUTER_INTERFACE, tap_name

TokenSource = Callable[[], Awaitable[str]]


def neutron_type(exc: RemoteError) -> str:
    """The ``type`` of the Neutron error an answer carried (``SecurityGroupRuleExists``,
    ``OverQuota``, ...), or ``""``."""
    try:
        kind = json.loads(exc.body)["NeutronError"]["type"]
    except (ValueError, KeyError, TypeError):
        return ""
    return kind if isinstance(kind, str) else ""


class NetworkClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, token: TokenSource, *,
                 timeout: float = 30) -> None:
        self._session = session
        self._base = url.rstrip("/") + "/v2.0"
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, path: str, *, body: Any = None,
                    params: Any = None) -> Any:
        headers = {"X-Auth-Token": await self._token(), "Accept": "application/json"}
        try:
            async with self._session.request(method, self._base + path, json=body,
                                             params=params, headers=headers,
                                             timeout=self._timeout) as r:
                data = await r.json(content_type=None) if r.status != 204 else None
                if r.status < 300:
                    return data
                error = data.get("NeutronError") if isinstance(data, dict) else None
                message = error.get("message") if isinstance(error, dict) else None
                raise remote_error(r.status, str(message or "the networking service "
                                                 f"answered {r.status}"), json.dumps(data))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RemoteUnavailable(f"the networking service is unreachable: {exc}") from exc

    # -- networks, subnets ----------------------------------------------------------------

    async def list_networks(self, **filters: Any) -> list[dict[str, Any]]:
        nets: list[dict[str, Any]] = (await self._call("GET", "/networks",
                                                       params=_query(filters)))["networks"]
        return nets

    async def show_network(self, network_id: str) -> dict[str, Any]:
        net: dict[str, Any] = (await self._call("GET", f"/networks/{network_id}"))["network"]
        return net

    async def show_subnet(self, subnet_id: str) -> dict[str, Any]:
        sub: dict[str, Any] = (await self._call("GET", f"/subnets/{subnet_id}"))["subnet"]
        return sub

    # -- ports ----------------------------------------------------------------------------

    async def create_port(self, network_id: str, **attrs: Any) -> dict[str, Any]:
        body = {"port": {"network_id": network_id, **attrs}}
        port: dict[str, Any] = (await self._call("POST", "/ports", body=body))["port"]
        return port

    async def show_port(self, port_id: str) -> dict[str, Any]:
        port: dict[str, Any] = (await self._call("GET", f"/ports/{port_id}"))["port"]
        return port

    async def update_port(self, port_id: str, **attrs: Any) -> dict[str, Any]:
        port: dict[str, Any] = (await self._call("PUT", f"/ports/{port_id}",
                                                 body={"port": attrs}))["port"]
        return port

    async def delete_port(self, port_id: str) -> None:
        await self._call("DELETE", f"/ports/{port_id}")

    async def list_ports(self, **filters: Any) -> list[dict[str, Any]]:
        ports: list[dict[str, Any]] = (await self._call("GET", "/ports",
                                                        params=_query(filters)))["ports"]
        return ports

    async def bind_port(self, port_id: str, host: str, *, device_id: str,
                        device_owner: str = "compute:nova") -> dict[str, Any]:
        """Bind a port to a hypervisor host for an instance: that host's agent plugs it
        (a tap on the network's bridge, named in ``binding:vif_details``)."""
        return await self.update_port(port_id, **{"binding:host_id": host,
                                                  "device_id": device_id,
                                                  "device_owner": device_owner})

    async def unbind_port(self, port_id: str) -> dict[str, Any]:
        return await self.update_port(port_id, **{"binding:host_id": "", "device_id": "",
                                                  "device_owner": ""})

    async def find_port_by_ip(self, ip: str, *, network_id: str | None = None,
                              router_id: str | None = None) -> dict[str, Any] | None:
        """The port holding ``ip`` on a network, or on any network a router has an
        interface on (the metadata proxies say one or the other)."""
        if network_id is not None:
            networks = [network_id]
        elif router_id is not None:
            legs = await self.list_ports(device_id=router_id,
                                         device_owner=OWNER_ROUTER_INTERFACE)
            networks = list(dict.fromkeys(p["network_id"] for p in legs))
        else:
            raise BadRequest("find_port_by_ip needs a network_id or a router_id")
        for net in networks:
            found = await self.list_ports(network_id=net, fixed_ips=f"ip_address={ip}")
            if found:
                return found[0]
        return None

    # -- any resource (the EC2 front: security groups, floating IPs, subnets) -------------

    async def list_of(self, path: str, **filters: Any) -> list[dict[str, Any]]:
        """Every resource at ``/v2.0/<path>`` (``security-groups``, ``floatingips``,
        ``subnets``...) matching ``filters`` (a list value: any of them)."""
        data = await self._call("GET", f"/{path}", params=_query(filters))
        items: list[dict[str, Any]] = data[path.replace("-", "_")]
        return items

    async def show_one(self, path: str, ident: str) -> dict[str, Any]:
        data = await self._call("GET", f"/{path}/{ident}")
        return _member(data)

    async def create_one(self, path: str, **attrs: Any) -> dict[str, Any]:
        data = await self._call("POST", f"/{path}", body={_singular(path): attrs})
        return _member(data)

    async def update_one(self, path: str, ident: str, **attrs: Any) -> dict[str, Any]:
        data = await self._call("PUT", f"/{path}/{ident}", body={_singular(path): attrs})
        return _member(data)

    async def delete_one(self, path: str, ident: str) -> None:
        await self._call("DELETE", f"/{path}/{ident}")

    async def network_data(self, port_ids: Iterable[str]) -> dict[str, Any]:
        """The config drive's ``network_data.json`` for a guest with these ports."""
        ports = [await self.show_port(p) for p in port_ids]
        subnet_ids = {a["subnet_id"] for p in ports for a in p["fixed_ips"]}
        subnets = {s: await self.show_subnet(s) for s in subnet_ids}
        nets = {n: await self.show_network(n) for n in {p["network_id"] for p in ports}}
        return network_data_json(ports, subnets, nets)


def _singular(path: str) -> str:
    """A collection's member name: ``security-groups`` -> ``security_group``,
    ``floatingips`` -> ``floatingip``, ``subnets`` -> ``subnet``."""
    return path.replace("-", "_").removesuffix("s")


def _member(data: Any) -> dict[str, Any]:
    """The one member of a ``{"<member>": {...}}`` answer."""
    (member,) = data.values()
    return dict(member)


def _query(filters: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in filters.items():
        for v in value if isinstance(value, list | tuple) else [value]:
            out.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
    return out


def _route(destination: str, gateway: str) -> dict[str, str]:
    net = ipaddress.ip_network(destination, strict=False)
    return {"network": str(net.network_address), "netmask": str(net.netmask),
            "gateway": gateway}


def network_data_json(ports: list[dict[str, Any]], subnets: dict[str, dict[str, Any]],
                      networks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``network_data.json`` (OpenStack's config drive format, as Nova writes it) from
    API views of the ports, their subnets and networks: one link per port, one network
    per fixed IP (DHCP where its IPv4 subnet serves it, else static with its routes),
    and the DNS servers."""
    links: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for port in ports:
        link = tap_name(port["id"])
        net = networks.get(port["network_id"], {})
        links.append({"id": link, "vif_id": port["id"], "type": "bridge",
                      "mtu": net.get("mtu"), "ethernet_mac_address": port["mac_address"]})
        for fixed in port["fixed_ips"]:
            sub = subnets[fixed["subnet_id"]]
            version = sub["ip_version"]
            dns = [{"type": "dns", "address": a} for a in sub["dns_nameservers"]]
            services += [d for d in dns if d not in services]
            entry: dict[str, Any] = {"id": f"network{len(entries)}", "link": link,
                                     "network_id": port["network_id"]}
            mode = sub.get("ipv6_address_mode")
            if version == 4 and sub["enable_dhcp"]:
                entry["type"] = "ipv4_dhcp"
            elif version == 6 and mode:
                entry["type"] = f"ipv6_{mode}"
            else:
                cidr = ipaddress.ip_network(sub["cidr"])
                routes = [_route(r["destination"], r["nexthop"]) for r in sub["host_routes"]]
                if sub["gateway_ip"]:
                    routes.insert(0, _route("0.0.0.0/0" if version == 4 else "::/0",
                                            sub["gateway_ip"]))
                entry.update({"type": f"ipv{version}", "ip_address": fixed["ip_address"],
                              "netmask": str(cidr.netmask), "routes": routes,
                              "services": dns})
            entries.append(entry)
    return {"links": links, "networks": entries, "services": services}
