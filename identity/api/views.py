"""Keystone v3 JSON shapes of the identity entities."""

from __future__ import annotations

from typing import Any

from identity import models as m
from identity.api.base import IdentityState


def domain(st: IdentityState, d: m.Domain) -> dict[str, Any]:
    return {**d.extra, "id": d.id, "name": d.name, "description": d.description,
            "enabled": d.enabled, "tags": list(d.tags), "options": {},
            "links": st.link("domains", d.id)}


def project(st: IdentityState, p: m.Project) -> dict[str, Any]:
    return {**p.extra, "id": p.id, "name": p.name, "domain_id": p.domain_id,
            "description": p.description, "enabled": p.enabled, "is_domain": False,
            "parent_id": p.parent_id or p.domain_id, "tags": list(p.tags), "options": {},
            "links": st.link("projects", p.id)}


def user(st: IdentityState, u: m.User) -> dict[str, Any]:
    out = {**u.extra, "id": u.id, "name": u.name, "domain_id": u.domain_id,
           "enabled": u.enabled, "password_expires_at": None, "options": {},
           "links": st.link("users", u.id)}
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    return out


def group(st: IdentityState, g: m.Group) -> dict[str, Any]:
    return {**g.extra, "id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description, "links": st.link("groups", g.id)}


def role(st: IdentityState, r: m.Role) -> dict[str, Any]:
    return {**r.extra, "id": r.id, "name": r.name, "domain_id": None,
            "description": r.description or None, "options": {},
            "links": st.link("roles", r.id)}


def region(st: IdentityState, r: m.Region) -> dict[str, Any]:
    return {**r.extra, "id": r.id, "description": r.description,
            "parent_region_id": r.parent_region_id, "links": st.link("regions", r.id)}


def service(st: IdentityState, s: m.Service) -> dict[str, Any]:
    return {**s.extra, "id": s.id, "type": s.type, "name": s.name,
            "description": s.description, "enabled": s.enabled,
            "links": st.link("services", s.id)}


def endpoint(st: IdentityState, e: m.Endpoint) -> dict[str, Any]:
    return {**e.extra, "id": e.id, "service_id": e.service_id, "interface": e.interface,
            "region": e.region_id, "region_id": e.region_id, "url": e.url,
            "enabled": e.enabled, "links": st.link("endpoints", e.id)}


def collection(st: IdentityState, name: str, items: list[dict[str, Any]],
               query: str = "") -> dict[str, Any]:
    own = "/".join([st.base_url, "v3", name]) + (f"?{query}" if query else "")
    return {name.split("/")[-1]: items,
            "links": {"self": own, "previous": None, "next": None}}
