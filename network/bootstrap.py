"""First-start networks, as devstack makes them.

* ``public``: the external network (``router:external``, not shared) of the admin
  project, with ``public-subnet`` on ``[network] external_network_cidr`` (gateway
  its first address, no DHCP): router gateways and floating IPs come from it.
* For the demo project: ``private`` with ``private-subnet`` on
  ``[network] private_network_cidr`` (DHCP on) and ``router1``, its gateway on
  ``public`` and an interface on ``private-subnet``.

Runs once: a ``bootstrapped`` setting records that it finished, so a later
start never brings back what users deleted; an interrupted run completes what
it had not made (each piece is looked up by name first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.config import StrataConfig
from common.errors import Unavailable
from identity.client import password_auth_body
from network import models as m
from network.core import networks, routers, subnets
from network.core.base import Ctx
from network.policy import Caller

log = logging.getLogger(__name__)

DONE = "bootstrapped"


@dataclass(frozen=True)
class Projects:
    admin: str
    demo: str | None


async def find_projects(session: aiohttp.ClientSession, cfg: StrataConfig) -> Projects:
    """The ids of the admin and demo projects, asked of identity as the admin."""
    ident = cfg.identity
    url = cfg.identity_url() + "/v3"
    auth = password_auth_body(ident.admin_user, str(cfg.secrets["admin_password"]),
                              ident.admin_project)
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with session.post(f"{url}/auth/tokens?nocatalog", json=auth,
                                timeout=timeout) as r:
            if r.status != 201:
                raise Unavailable(f"identity refused the admin login ({r.status})")
            token = r.headers["X-Subject-Token"]
            admin = (await r.json())["token"]["project"]["id"]
        demo = None
        if ident.demo_user:
            async with session.get(f"{url}/projects", params={
                    "name": ident.demo_project, "domain_id": "default"},
                    headers={"X-Auth-Token": token}, timeout=timeout) as r:
                if r.status != 200:
                    raise Unavailable(f"identity refused the project lookup ({r.status})")
                found = (await r.json())["projects"]
                demo = found[0]["id"] if found else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"identity is unreachable: {exc}") from exc
    return Projects(admin=admin, demo=demo)


def _named(s: Session, model: Any, project: str, name: str, **where: Any) -> Any:
    return s.scalar(select(model).filter_by(project_id=project, name=name, **where))


def ensure(s: Session, cfg: StrataConfig, host: str, projects: Projects,
           instant_active: bool) -> list[str]:
    """Make what is missing; the names of what was made."""
    if s.get(m.Setting, DONE) is not None:
        return []
    net_cfg = cfg.network
    admin = Caller(user_id="strata-network-bootstrap", project_id=projects.admin,
                   roles=frozenset({"admin"}))
    ctx = Ctx(s, admin, net_cfg, host, instant_active=instant_active)
    made: list[str] = []
    public = _named(s, m.Network, projects.admin, "public", external=True)
    if public is None:
        public = networks.create_network(ctx, {"name": "public", "external": True,
                                               "shared": False})
        made.append("network public")
    if not public.subnets:
        subnets.create_subnet(ctx, {"network_id": public.id, "name": "public-subnet",
                                    "ip_version": 4, "cidr": net_cfg.external_network_cidr,
                                    "enable_dhcp": False})
        made.append(f"subnet public-subnet ({net_cfg.external_network_cidr})")
    demo = projects.demo
    if demo is not None:
        private = _named(s, m.Network, demo, "private")
        if private is None:
            private = networks.create_network(ctx, {"name": "private", "project_id": demo})
            made.append("network private")
        sub = _named(s, m.Subnet, demo, "private-subnet", network_id=private.id)
        if sub is None:
            sub = subnets.create_subnet(ctx, {
                "network_id": private.id, "name": "private-subnet", "ip_version": 4,
                "cidr": net_cfg.private_network_cidr, "project_id": demo})
            made.append(f"subnet private-subnet ({net_cfg.private_network_cidr})")
        router = _named(s, m.Router, demo, "router1")
        if router is None:
            router = routers.create_router(ctx, {"name": "router1", "project_id": demo})
            made.append("router router1")
        if router.gw_port_id is None:
            routers.set_gateway(ctx, router, {"network_id": public.id}, "update_router")
        if not any(a.subnet_id == sub.id for p in routers.interfaces(ctx, router)
                   for a in p.fixed_ips):
            routers.add_interface(ctx, router, {"subnet_id": sub.id})
    s.add(m.Setting(key=DONE, value=m.utcnow().isoformat()))
    return made
