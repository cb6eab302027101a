"""Volume type rules: lookups, create, update, delete (admins), extra specs.

The default type (``[blockstore] default_volume_type``) exists from the first
start and cannot be deleted; nor can a type a volume still has.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core.validation import check_text
from blockstore.errors import Conflict, Invalid, NotFound
from blockstore.policy import Caller


def get_type(s: Session, ref: str) -> m.VolumeType:
    """A volume type by id."""
    vt = s.get(m.VolumeType, ref)
    if vt is None:
        raise NotFound(f"Volume type {ref} could not be found.")
    return vt


def find_type(s: Session, ref: str | None, default_name: str) -> m.VolumeType:
    """A volume type by id or name; the default one when ``ref`` is None."""
    if ref is None:
        vt = s.scalar(select(m.VolumeType).where(m.VolumeType.name == default_name))
        if vt is None:
            raise NotFound(f"Volume type {default_name} could not be found.")
        return vt
    vt = s.get(m.VolumeType, ref) or s.scalar(select(m.VolumeType).where(
        m.VolumeType.name == ref))
    if vt is None:
        raise NotFound(f"Volume type with name {ref} could not be found.")
    return vt


def ensure_default_type(s: Session, name: str) -> None:
    if s.scalar(select(m.VolumeType).where(m.VolumeType.name == name)) is None:
        s.add(m.VolumeType(id=m.new_id(), name=name, description="Default Volume Type",
                           is_public=True, extra_specs={}))


def visible_types(s: Session, who: Caller) -> list[m.VolumeType]:
    """Every public type (every type, for admins), by name."""
    return [t for t in s.scalars(select(m.VolumeType).order_by(m.VolumeType.name))
            if t.is_public or who.is_admin]


def check_extra_specs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str | int | float | bool)
            for k, v in value.items()):
        raise Invalid("Invalid input received: extra_specs must map names to strings.")
    return {k: str(v) for k, v in value.items()}


def check_new_type(body: dict[str, Any]) -> str:
    """The new type's name (400 without one)."""
    name = check_text(body, "name")
    if not name or not name.strip():
        raise Invalid("Invalid input received: a volume type needs a name.")
    return name


def create_type(s: Session, name: str, body: dict[str, Any]) -> m.VolumeType:
    if s.scalar(select(m.VolumeType).where(m.VolumeType.name == name)) is not None:
        raise Conflict(f"Volume Type {name} already exists.")
    is_public = body.get("os-volume-type-access:is_public", body.get("is_public", True))
    vt = m.VolumeType(id=m.new_id(), name=name,
                      description=check_text(body, "description", 65535),
                      is_public=bool(is_public) if not isinstance(is_public, str)
                      else is_public.lower() in ("true", "1"),
                      extra_specs=check_extra_specs(body.get("extra_specs")))
    s.add(vt)
    s.flush()
    return vt


def update_type(s: Session, ref: str, body: dict[str, Any]) -> m.VolumeType:
    vt = get_type(s, ref)
    if "name" in body:
        vt.name = check_text(body, "name") or vt.name
    if "description" in body:
        vt.description = check_text(body, "description", 65535)
    if "is_public" in body:
        vt.is_public = bool(body["is_public"])
    return vt


def delete_type(s: Session, ref: str, default_name: str) -> None:
    vt = get_type(s, ref)
    if vt.name == default_name:
        raise Invalid("Invalid volume type: the default volume type cannot be deleted.")
    if s.scalar(select(m.Volume.id).where(m.Volume.volume_type_id == vt.id)) is not None:
        raise Invalid(f"Invalid volume type: Target volume type {vt.id} is still in use.")
    s.delete(vt)


def set_extra_specs(s: Session, ref: str, specs: dict[str, str]) -> dict[str, str]:
    vt = get_type(s, ref)
    vt.extra_specs = {**(vt.extra_specs or {}), **specs}
    return dict(vt.extra_specs)


def delete_extra_spec(s: Session, ref: str, key: str) -> None:
    vt = get_type(s, ref)
    specs = dict(vt.extra_specs or {})
    if key not in specs:
        raise NotFound(f"Volume Type {vt.id} has no extra specs with key {key}.")
    del specs[key]
    vt.extra_specs = specs
