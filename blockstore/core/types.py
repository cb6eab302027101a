"""Volume type rules: lookups, who may use which type, create, update, delete (admins),
extra specs, and the projects a private type is shared with.

The default type (``[blockstore] default_volume_type``) exists from the first
start and cannot be deleted; nor can a type a volume still has. A private
type (``is_public`` false) is seen and used only by admins and the projects
given access (``addProjectAccess``); to anyone else it does not exist (404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core.validation import check_flag, check_text
from blockstore.errors import Conflict, Invalid, NotFound
from blockstore.policy import Caller


def can_use(s: Session, who: Caller | None, vt: m.VolumeType) -> bool:
    """Whether ``who`` may see and use ``vt`` (None: the service itself, always)."""
    if who is None or vt.is_public or who.is_admin:
        return True
    return s.get(m.VolumeTypeAccess, (vt.id, who.project_id or "")) is not None


def get_type(s: Session, ref: str, who: Caller | None = None) -> m.VolumeType:
    """A volume type by id (404 when ``who`` may not see it)."""
    vt = s.get(m.VolumeType, ref)
    if vt is None or not can_use(s, who, vt):
        raise NotFound(f"Volume type {ref} could not be found.")
    return vt


def find_type(s: Session, ref: str | None, default_name: str,
              who: Caller | None = None) -> m.VolumeType:
    """A volume type by id or name; the default one when ``ref`` is None."""
    if ref is None:
        vt = s.scalar(select(m.VolumeType).where(m.VolumeType.name == default_name))
        if vt is None:
            raise NotFound(f"Volume type {default_name} could not be found.")
        return vt
    vt = s.get(m.VolumeType, ref) or s.scalar(select(m.VolumeType).where(
        m.VolumeType.name == ref))
    if vt is None or not can_use(s, who, vt):
        raise NotFound(f"Volume type with name {ref} could not be found.")
    return vt


def ensure_default_type(s: Session, name: str) -> None:
    if s.scalar(select(m.VolumeType).where(m.VolumeType.name == name)) is None:
        s.add(m.VolumeType(id=m.new_id(), name=name, description="Default Volume Type",
                           is_public=True, extra_specs={}))


def parse_is_public(value: str | None) -> bool | None:
    """The ``is_public`` filter of a type listing: true when absent, None (every type)
    for ``none``, else a boolean (400 otherwise)."""
    if value is None:
        return True
    if value.lower() == "none":
        return None
    return check_flag(value, "is_public", default=None)


def visible_types(s: Session, who: Caller, is_public: bool | None = True,
                  sort: list[Any] | None = None) -> list[m.VolumeType]:
    """The types a listing shows. Admins: the public ones (``is_public`` true, with
    the private ones shared with their project), the private ones (false) or all
    (None). Others: the public ones and the private ones shared with their project."""
    stmt = select(m.VolumeType).order_by(*(sort or [m.VolumeType.name]))
    shared = m.VolumeType.id.in_(select(m.VolumeTypeAccess.volume_type_id).where(
        m.VolumeTypeAccess.project_id == (who.project_id or "")))
    if not who.is_admin or is_public is True:
        stmt = stmt.where(or_(m.VolumeType.is_public.is_(True), shared))
    elif is_public is False:
        stmt = stmt.where(m.VolumeType.is_public.is_(False))
    return list(s.scalars(stmt))


def check_extra_specs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and 0 < len(k) <= 255 and isinstance(v, str | int | float | bool)
            for k, v in value.items()):
        raise Invalid("Invalid input received: extra_specs must map names to strings.")
    return {k: str(v) for k, v in value.items()}


def check_new_type(body: dict[str, Any]) -> str:
    """The new type's name (400 without one)."""
    name = check_text(body, "name")
    if not name or not name.strip():
        raise Invalid("Invalid input received: a volume type needs a name.")
    return name.strip()


def _is_public(body: dict[str, Any]) -> bool | None:
    for key in ("os-volume-type-access:is_public", "is_public"):
        if key in body:
            return check_flag(body[key], key, default=None)
    return None


def _name_free(s: Session, name: str, but: str | None = None) -> None:
    other = s.scalar(select(m.VolumeType).where(m.VolumeType.name == name))
    if other is not None and other.id != but:
        raise Conflict(f"Volume Type {name} already exists.")


def create_type(s: Session, name: str, body: dict[str, Any]) -> m.VolumeType:
    _name_free(s, name)
    is_public = _is_public(body)
    vt = m.VolumeType(id=m.new_id(), name=name,
                      description=check_text(body, "description", 65535),
                      is_public=True if is_public is None else is_public,
                      extra_specs=check_extra_specs(body.get("extra_specs")))
    s.add(vt)
    s.flush()
    return vt


def update_type(s: Session, ref: str, body: dict[str, Any], default_name: str
                ) -> m.VolumeType:
    """Rename, describe, or make public or private (400 without any of them)."""
    vt = get_type(s, ref)
    is_public = _is_public(body)
    if "name" not in body and "description" not in body and is_public is None:
        raise Invalid("Invalid input received: Specify volume type name, description, "
                      "is_public or a combination thereof.")
    if "name" in body:
        name = check_text(body, "name")
        if not name or not name.strip():
            raise Invalid("Invalid input received: a volume type name cannot be empty.")
        if vt.name == default_name and name.strip() != vt.name:
            raise Invalid("Invalid volume type: the default volume type cannot be renamed.")
        _name_free(s, name.strip(), but=vt.id)
        vt.name = name.strip()
    if "description" in body:
        vt.description = check_text(body, "description", 65535)
    if is_public is not None:
        if vt.name == default_name and not is_public:
            raise Invalid("Invalid volume type: the default volume type must be public.")
        vt.is_public = is_public
    return vt


def delete_type(s: Session, ref: str, default_name: str) -> None:
    vt = get_type(s, ref)
    if vt.name == default_name:
        raise Invalid("Invalid volume type: the default volume type cannot be deleted.")
    if s.scalar(select(m.Volume.id).where(m.Volume.volume_type_id == vt.id)) is not None:
        raise Invalid(f"Invalid volume type: Target volume type {vt.id} is still in use.")
    s.execute(delete(m.VolumeTypeAccess).where(m.VolumeTypeAccess.volume_type_id == vt.id))
    s.delete(vt)


def set_extra_specs(s: Session, ref: str, specs: dict[str, str]) -> dict[str, str]:
    vt = get_type(s, ref)
    vt.extra_specs = {**(vt.extra_specs or {}), **specs}
    return dict(vt.extra_specs)


def extra_spec(s: Session, ref: str, key: str, who: Caller) -> dict[str, str]:
    vt = get_type(s, ref, who)
    specs = dict(vt.extra_specs or {})
    if key not in specs:
        raise NotFound(f"Volume Type {vt.id} has no extra specs with key {key}.")
    return {key: specs[key]}


def delete_extra_spec(s: Session, ref: str, key: str) -> None:
    vt = get_type(s, ref)
    specs = dict(vt.extra_specs or {})
    if key not in specs:
        raise NotFound(f"Volume Type {vt.id} has no extra specs with key {key}.")
    del specs[key]
    vt.extra_specs = specs


# -- access to private types -----------------------------------------------------------


def access_list(s: Session, ref: str) -> list[str]:
    """The projects a private type is shared with (404 for a public type)."""
    vt = get_type(s, ref)
    if vt.is_public:
        raise NotFound("Access list not available for public volume types.")
    return list(s.scalars(select(m.VolumeTypeAccess.project_id).where(
        m.VolumeTypeAccess.volume_type_id == vt.id).order_by(m.VolumeTypeAccess.project_id)))


def check_project_arg(args: Any) -> str:
    project = args.get("project") if isinstance(args, dict) else None
    if not isinstance(project, str) or not project:
        raise Invalid("Invalid input received: project is required.")
    return project


def add_access(s: Session, ref: str, project: str) -> None:
    vt = get_type(s, ref)
    if vt.is_public:
        raise Invalid("Invalid input received: a public volume type needs no access "
                      "list.")
    if s.get(m.VolumeTypeAccess, (vt.id, project)) is not None:
        raise Conflict(f"Volume type access for {vt.id}/{project} combination already "
                       "exists.")
    s.add(m.VolumeTypeAccess(volume_type_id=vt.id, project_id=project))


def remove_access(s: Session, ref: str, project: str) -> None:
    vt = get_type(s, ref)
    row = s.get(m.VolumeTypeAccess, (vt.id, project))
    if row is None:
        raise NotFound(f"Volume type access not found for {vt.id}/{project} combination.")
    s.delete(row)
