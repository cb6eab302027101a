"""The service catalog of a token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import models as m


def endpoint_url(url: str, project_id: str | None) -> str:
    """Keystone's URL templates: ``$(project_id)s`` / ``%(tenant_id)s`` and friends."""
    if project_id is None:
        return url
    for name in ("project_id", "tenant_id"):
        url = url.replace(f"$({name})s", project_id).replace(f"%({name})s", project_id)
    return url


def catalog(s: Session, project_id: str | None = None) -> list[dict[str, Any]]:
    services = s.scalars(select(m.Service).where(m.Service.enabled.is_(True))
                         .order_by(m.Service.type))
    out = []
    for svc in services:
        endpoints = s.scalars(
            select(m.Endpoint).where(m.Endpoint.service_id == svc.id,
                                     m.Endpoint.enabled.is_(True))
            .order_by(m.Endpoint.interface))
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
