"""The network topology picture: where each network, router and server goes in an SVG
drawn on the server (the template ``network/topology.html`` draws it).

A bus diagram: each network is a horizontal line (external ones first) with its
name and subnets at the left; each router, then each server, is a box in a
column above the networks, with a line down to the lowest network it has a
port on and a dot, labelled with the port's address, on each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LABEL_W = 220  # the networks' names and subnets, at the left
COL_W = 150  # one device's column
BOX_W, BOX_H = 120, 44
TOP = 16  # above the boxes
ROW_GAP = 70  # between two networks
FIRST_ROW = TOP + BOX_H + 50


@dataclass(frozen=True)
class NetRow:
    id: str
    name: str
    cidrs: str
    y: int
    external: bool
    href: str


@dataclass(frozen=True)
class Link:
    y: int
    address: str


@dataclass(frozen=True)
class Device:
    id: str
    kind: str  # "router" or "server"
    name: str
    status: str
    href: str
    x: int  # left of the box
    links: tuple[Link, ...]

    @property
    def cx(self) -> int:
        return self.x + BOX_W // 2

    @property
    def bottom(self) -> int:
        """Where its line ends: the lowest network it reaches (the box, if none)."""
        return max((link.y for link in self.links), default=TOP + BOX_H)


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    rows: tuple[NetRow, ...]
    devices: tuple[Device, ...]
    box_w: int = BOX_W
    box_h: int = BOX_H
    top: int = TOP
    label_w: int = LABEL_W

    @property
    def empty(self) -> bool:
        return not self.rows and not self.devices


def layout(networks: list[dict[str, Any]], subnets: list[dict[str, Any]],
           routers: list[dict[str, Any]], ports: list[dict[str, Any]],
           servers: list[dict[str, Any]]) -> Picture:
    """Place what the APIs answered: Neutron's networks, subnets, routers and ports,
    and Nova's servers (none before compute)."""
    cidrs: dict[str, list[str]] = {}
    for s in subnets:
        cidrs.setdefault(s["network_id"], []).append(s["cidr"])
    ordered = sorted(networks, key=lambda n: (not n.get("router:external"),
                                              str(n.get("name") or "").lower(), n["id"]))
    rows = tuple(NetRow(n["id"], n.get("name") or n["id"][:8], ", ".join(cidrs.get(n["id"], [])),
                        FIRST_ROW + i * ROW_GAP, bool(n.get("router:external")),
                        f"/project/networks/{n['id']}")
                 for i, n in enumerate(ordered))
    row_y = {r.id: r.y for r in rows}
    by_device: dict[str, list[Link]] = {}
    for p in ports:
        y = row_y.get(p.get("network_id", ""))
        if y is None:
            continue
        address = ", ".join(f["ip_address"] for f in p.get("fixed_ips", []))
        by_device.setdefault(p.get("device_id", ""), []).append(Link(y, address))
    devices: list[Device] = []
    things = [("router", r, f"/project/routers/{r['id']}") for r in routers] + \
             [("server", s, f"/project/instances/{s['id']}") for s in servers]
    for kind, item, href in things:
        links = by_device.get(item["id"], [])
        gw = item.get("external_gateway_info") or {}
        if kind == "router" and gw.get("network_id") in row_y and \
                all(link.y != row_y[gw["network_id"]] for link in links):
            # the gateway port is not the project's own: drawn from the router's view
            address = ", ".join(f["ip_address"] for f in gw.get("external_fixed_ips", []))
            links = [*links, Link(row_y[gw["network_id"]], address)]
        links = sorted(links, key=lambda link: link.y)
        devices.append(Device(item["id"], kind, item.get("name") or item["id"][:8],
                              str(item.get("status", "")), href,
                              LABEL_W + len(devices) * COL_W + (COL_W - BOX_W) // 2,
                              tuple(links)))
    width = LABEL_W + max(len(devices), 3) * COL_W + 20
    height = (rows[-1].y if rows else FIRST_ROW) + 40
    return Picture(width, height, rows, tuple(devices))
