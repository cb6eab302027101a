"""The dashboard's pages, one module per area; each has a ``routes`` table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
from aiohttp import web

from dashboard.views import (
    access,
    admin,
    admin_compute,
    identity_admin,
    images,
    instance_actions,
    instances,
    keypairs,
    login,
    networks,
    objects,
    overview,
    security,
    usage,
    volume_extras,
    volumes,
)

MODULES = (login, overview, usage, keypairs, instances, instance_actions,
           volumes, volume_extras, images, networks,
           security, objects, access, admin, admin_compute, identity_admin)

# Statuses that change on their own: a list showing one refreshes itself.
_SETTLING = ("creating", "deleting", "extending", "downloading", "uploading", "saving",
             "queued", "importing", "backing-up", "restoring", "attaching", "detaching",
             "reserved", "retyping", "maintenance", "build", "rebuild", "resize",
             "migrating", "reboot", "hard_reboot", "pending", "error_deleting")


def busy(items: list[dict[str, Any]]) -> bool:
    """Does any item of a list show a status that will change by itself?"""
    return any(str(i.get("status", "")).lower().startswith(_SETTLING) for i in items)


def when(value: object) -> str:
    """A timestamp as the APIs give it (ISO 8601, with a zone or, as Cinder's and
    Swift's, without one and in UTC) as ``YYYY-MM-DD HH:MM:SS UTC``; anything else
    as it came."""
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def add_filters(env: jinja2.Environment) -> None:
    env.filters["busy"] = busy
    env.filters["when"] = when


def add_routes(app: web.Application) -> None:
    for mod in MODULES:
        app.add_routes(mod.routes)
