"""Flavors: the bootstrap set, admin create/delete/update, extra specs and private access.

Visibility as Nova's: a public flavor is everyone's; a private one is seen by admins
and the projects on its access list. Disabled flavors are not listed but can still
be shown (servers keep referring to them).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from compute import models as m
from compute.errors import Conflict, FlavorNotFound, Invalid, ItemNotFound
from compute.policy import Caller

# name, id, MiB, vCPUs, root GiB: devstack's flavors (m1.nano/m1.micro are its small ones)
BOOTSTRAP = (("m1.tiny", "1", 512, 1, 1), ("m1.small", "2", 2048, 1, 20),
             ("m1.medium", "3", 4096, 2, 40), ("m1.large", "4", 8192, 4, 80),
             ("m1.xlarge", "5", 16384, 8, 160), ("m1.nano", "42", 128, 1, 1),
             ("m1.micro", "84", 192, 1, 1))
_FLAVOR_ID = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
_SPEC_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
MAX_INT = 2147483647


def ensure_bootstrap(s: Session) -> list[str]:
    """Create the default flavors on an empty table; the names made."""
    if s.scalar(select(m.Flavor.id).limit(1)) is not None:
        return []
    for name, fid, ram, vcpus, disk in BOOTSTRAP:
        s.add(m.Flavor(flavorid=fid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk))
    return [b[0] for b in BOOTSTRAP]


def visible(s: Session, who: Caller, flavor: m.Flavor) -> bool:
    if flavor.is_public or who.is_admin:
        return True
    return s.get(m.FlavorAccess, (flavor.id, who.project_id or "")) is not None


def get(s: Session, who: Caller, flavor_id: str) -> m.Flavor:
    flavor = s.scalar(select(m.Flavor).where(m.Flavor.flavorid == flavor_id))
    if flavor is None or not visible(s, who, flavor):
        raise FlavorNotFound(flavor_id)
    return flavor


@dataclass(frozen=True)
class ListQuery:
    is_public: bool | None = True  # None: public and private (admins: all)
    min_ram: int = 0
    min_disk: int = 0
    sort_key: str = "flavorid"
    sort_dir: str = "asc"
    limit: int | None = None
    marker: str | None = None


SORT_KEYS = {"flavorid": m.Flavor.flavorid, "name": m.Flavor.name,
             "memory_mb": m.Flavor.memory_mb, "vcpus": m.Flavor.vcpus,
             "root_gb": m.Flavor.root_gb, "swap": m.Flavor.swap, "id": m.Flavor.id,
             "created_at": m.Flavor.created_at, "ephemeral_gb": m.Flavor.ephemeral_gb,
             "rxtx_factor": m.Flavor.rxtx_factor, "disabled": m.Flavor.disabled,
             "is_public": m.Flavor.is_public, "description": m.Flavor.description}


def listing(s: Session, who: Caller, q: ListQuery) -> tuple[list[m.Flavor], bool]:
    """(flavors of one page, whether more follow)."""
    stmt = select(m.Flavor).where(m.Flavor.disabled.is_(False),
                                  m.Flavor.memory_mb >= q.min_ram,
                                  m.Flavor.root_gb >= q.min_disk)
    access = select(m.FlavorAccess.flavor_id).where(
        m.FlavorAccess.project_id == (who.project_id or ""))
    if who.is_admin:
        if q.is_public is not None:
            stmt = stmt.where(m.Flavor.is_public.is_(q.is_public))
    elif q.is_public is False:
        stmt = stmt.where(m.Flavor.is_public.is_(False), m.Flavor.id.in_(access))
    else:  # non-admins: public flavors and the private ones shared with them
        stmt = stmt.where(or_(m.Flavor.is_public.is_(True), m.Flavor.id.in_(access)))
    col = SORT_KEYS[q.sort_key]
    order = col.asc() if q.sort_dir == "asc" else col.desc()
    rows = list(s.scalars(stmt.order_by(order, m.Flavor.flavorid.asc())))
    if q.marker is not None:
        ids = [f.flavorid for f in rows]
        if q.marker not in ids:
            raise Invalid(f"marker [{q.marker}] not found")
        rows = rows[ids.index(q.marker) + 1:]
    more = q.limit is not None and len(rows) > q.limit
    return (rows[:q.limit] if q.limit is not None else rows), more


# -- admin changes --------------------------------------------------------------------


def _int(body: Mapping[str, Any], key: str, *, minimum: int, default: int | None = None,
         maximum: int = MAX_INT) -> int:
    value = body.get(key, default)
    if value is None:
        raise Invalid(f"Invalid input for field/attribute flavor. Value: {dict(body)}. "
                      f"'{key}' is a required property")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"Invalid input for field/attribute {key}. Value: {value}. "
                      f"{value!r} is not of type 'integer', 'string'")
    if not minimum <= value <= maximum:
        raise Invalid(f"Invalid input for field/attribute {key}. Value: {value}. "
                      f"{value} is {'less' if value < minimum else 'greater'} than the "
                      f"{'minimum' if value < minimum else 'maximum'} of "
                      f"{minimum if value < minimum else maximum}")
    return value


def _name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or value != value.strip():
        raise Invalid(f"Invalid input for field/attribute {field}. Value: {value}. "
                      "A name of 1-255 characters without leading or trailing spaces is "
                      "required")
    return value


def create(s: Session, body: Mapping[str, Any], *, with_description: bool) -> m.Flavor:
    name = _name(body.get("name"))
    fid = body.get("id")
    if fid is None or fid == "auto":
        fid = str(uuid.uuid4())
    elif isinstance(fid, int) and not isinstance(fid, bool):
        fid = str(fid)
    if not isinstance(fid, str) or not 1 <= len(fid) <= 255 or not _FLAVOR_ID.match(fid):
        raise Invalid(f"Invalid input for field/attribute id. Value: {fid}. Flavor ids "
                      "are 1-255 letters, digits, '.', '_', '-' or spaces (none at the "
                      "ends)")
    ram = _int(body, "ram", minimum=1)
    vcpus = _int(body, "vcpus", minimum=1)
    disk = _int(body, "disk", minimum=0)
    ephemeral = _int(body, "OS-FLV-EXT-DATA:ephemeral", minimum=0, default=0)
    swap = _int(body, "swap", minimum=0, default=0)
    rxtx = body.get("rxtx_factor", 1.0)
    if isinstance(rxtx, bool) or not isinstance(rxtx, int | float) or not \
            0 < float(rxtx) <= 3.40282e38:
        raise Invalid(f"Invalid input for field/attribute rxtx_factor. Value: {rxtx}.")
    public = body.get("os-flavor-access:is_public", True)
    if not isinstance(public, bool):
        raise Invalid(f"Invalid input for field/attribute os-flavor-access:is_public. "
                      f"Value: {public}. {public!r} is not of type 'boolean'")
    description = None
    if with_description:
        description = _description(body.get("description"))
    elif "description" in body:
        raise Invalid("Additional properties are not allowed ('description' was "
                      "unexpected)")
    if s.scalar(select(m.Flavor.id).where(m.Flavor.name == name)) is not None:
        raise Conflict(f"Flavor with name {name} already exists.")
    if s.scalar(select(m.Flavor.id).where(m.Flavor.flavorid == fid)) is not None:
        raise Conflict(f"Flavor with ID {fid} already exists.")
    flavor = m.Flavor(flavorid=fid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
                      ephemeral_gb=ephemeral, swap=swap, rxtx_factor=float(rxtx),
                      is_public=public, description=description, extra_specs={})
    s.add(flavor)
    s.flush()
    return flavor


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 65535:
        raise Invalid(f"Invalid input for field/attribute description. Value: {value}.")
    return value


def by_flavorid(s: Session, flavor_id: str) -> m.Flavor:
    """Any flavor by its id, visible or not (for admins)."""
    flavor = s.scalar(select(m.Flavor).where(m.Flavor.flavorid == flavor_id))
    if flavor is None:
        raise FlavorNotFound(flavor_id)
    return flavor


def update_description(s: Session, flavor_id: str, value: Any) -> m.Flavor:
    flavor = by_flavorid(s, flavor_id)
    flavor.description = _description(value)
    flavor.updated_at = m.utcnow()
    return flavor


def delete(s: Session, flavor_id: str) -> None:
    s.delete(by_flavorid(s, flavor_id))


def set_extra_specs(s: Session, flavor: m.Flavor, specs: Any) -> dict[str, str]:
    if not isinstance(specs, dict):
        raise Invalid("Invalid input for field/attribute extra_specs.")
    clean = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not _SPEC_KEY.match(key):
            raise Invalid(f"Invalid input for field/attribute extra_specs. Value: {key}. "
                          "Keys are 1-255 letters, digits, '-', '_', ':', '.' or spaces")
        if isinstance(value, bool) or not isinstance(value, str | int | float) or \
                len(str(value)) > 255:
            raise Invalid(f"Invalid input for field/attribute extra_specs. Value: {value}.")
        clean[key] = str(value)
    flavor.extra_specs = {**(flavor.extra_specs or {}), **clean}
    flavor.updated_at = m.utcnow()
    return clean


def delete_extra_spec(flavor: m.Flavor, key: str) -> None:
    specs = dict(flavor.extra_specs or {})
    if key not in specs:
        raise ItemNotFound(f"Flavor {flavor.flavorid} has no extra specs with key {key}.")
    del specs[key]
    flavor.extra_specs = specs


def access_list(s: Session, flavor: m.Flavor) -> list[str]:
    if flavor.is_public:
        raise ItemNotFound("Access list not available for public flavors.")
    return list(s.scalars(select(m.FlavorAccess.project_id).where(
        m.FlavorAccess.flavor_id == flavor.id).order_by(m.FlavorAccess.project_id)))


def add_access(s: Session, flavor: m.Flavor, project_id: Any) -> None:
    if not isinstance(project_id, str) or not project_id:
        raise Invalid("Missing parameter tenant")
    if flavor.is_public:
        raise Conflict("Can not add access to a public flavor.")
    if s.get(m.FlavorAccess, (flavor.id, project_id)) is not None:
        raise Conflict(f"Flavor access already exists for flavor {flavor.flavorid} and "
                       f"project {project_id} combination.")
    s.add(m.FlavorAccess(flavor_id=flavor.id, project_id=project_id))


def remove_access(s: Session, flavor: m.Flavor, project_id: Any) -> None:
    row = s.get(m.FlavorAccess, (flavor.id, project_id)) if isinstance(project_id, str) \
        else None
    if row is None:
        raise ItemNotFound(f"Flavor access not found for {flavor.flavorid} / {project_id} "
                           "combination.")
    s.delete(row)


def snapshot(flavor: m.Flavor) -> dict[str, Any]:
    """The copy a server keeps of its flavor."""
    return {"flavorid": flavor.flavorid, "name": flavor.name, "memory_mb": flavor.memory_mb,
            "vcpus": flavor.vcpus, "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap": flavor.swap,
            "rxtx_factor": flavor.rxtx_factor, "extra_specs": dict(flavor.extra_specs or {}),
            "description": flavor.description, "is_public": flavor.is_public}
