"""The service catalog, and OS-EP-FILTER's view of it for one project.

A project with endpoint associations (direct, or through endpoint groups whose
filters match endpoints) sees only those endpoints in its token's catalog, and
only the services that keep an endpoint. As Keystone does by default, a
project whose associations select nothing sees the whole catalog.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import models as m

# The endpoint attributes an endpoint group may filter on.
GROUP_FILTERS = ("service_id", "region_id", "interface")


def endpoint_url(url: str, project_id: str | None) -> str:
    """Keystone's URL templates: ``$(project_id)s`` / ``%(tenant_id)s`` and friends."""
    if project_id is None:
        return url
    for name in ("project_id", "tenant_id"):
        url = url.replace(f"$({name})s", project_id).replace(f"%({name})s", project_id)
    return url


def endpoints_matching(s: Session, filters: dict[str, Any]) -> list[m.Endpoint]:
    """The endpoints an endpoint group's filters select."""
    conds = [getattr(m.Endpoint, key) == value for key, value in filters.items()
             if key in GROUP_FILTERS]
    return list(s.scalars(select(m.Endpoint).where(*conds).order_by(m.Endpoint.id)))


def project_endpoint_ids(s: Session, project_id: str) -> set[str]:
    """Endpoints associated with a project, directly or through endpoint groups."""
    ids = set(s.scalars(select(m.ProjectEndpoint.endpoint_id)
                        .where(m.ProjectEndpoint.project_id == project_id)))
    groups = s.scalars(select(m.EndpointGroup).join(
        m.ProjectEndpointGroup, m.ProjectEndpointGroup.endpoint_group_id == m.EndpointGroup.id)
        .where(m.ProjectEndpointGroup.project_id == project_id))
    for group in groups:
        ids.update(e.id for e in endpoints_matching(s, group.filters))
    return ids


def catalog(s: Session, project_id: str | None = None) -> list[dict[str, Any]]:
    only = project_endpoint_ids(s, project_id) if project_id else set()
    services = s.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                         .order_by(m.Service.type))
    out = []
    for svc in services:
        endpoints = [ep for ep in s.scalars(
            select(m.Endpoint).where(m.Endpoint.service_id == svc.id,
                                     m.Endpoint.enabled.is_(True))
            .order_by(m.Endpoint.interface)) if not only or ep.id in only]
        if only and not endpoints:
            continue
        out.append({
            "id": svc.id,
            "type": svc.type,
            "name": svc.name,
            "endpoints": [
                {"id": ep.id, "interface": ep.interface, "region": ep.region_id,
                 "region_id": ep.region_id, "url": endpoint_url(ep.url, project_id)}
                for ep in endpoints
            ],
        })
    return out
