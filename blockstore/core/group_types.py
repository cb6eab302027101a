"""Group type rules (3.11+): lookups, create, update, delete (admins) and group specs.

A private group type (``is_public`` false) is seen by admins only. A type a
group still has cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core.validation import check_flag, check_only_key, check_text
from blockstore.errors import Conflict, Invalid, NotFound
from blockstore.policy import Caller


def get(s: Session, ref: str, who: Caller | None = None) -> m.GroupType:
    """A group type by id, or by name (404 when ``who`` may not see it)."""
    gt = s.get(m.GroupType, ref) or s.scalar(select(m.GroupType).where(
        m.GroupType.name == ref))
    if gt is None or (who is not None and not gt.is_public and not who.is_admin):
        raise NotFound(f"Group type {ref} could not be found.")
    return gt


def listing(s: Session, who: Caller, sort: list[Any]) -> list[m.GroupType]:
    stmt = select(m.GroupType).order_by(*sort, m.GroupType.id)
    if not who.is_admin:
        stmt = stmt.where(m.GroupType.is_public.is_(True))
    return list(s.scalars(stmt))


def check_specs(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and 0 < len(k) <= 255 and isinstance(v, str) and len(v) <= 255
            for k, v in value.items()):
        raise Invalid("Invalid input received: group_specs must map names to strings of at "
                      "most 255 characters.")
    return dict(value)


def _name(body: dict[str, Any]) -> str:
    name = check_text(body, "name")
    if not name or not name.strip():
        raise Invalid("Invalid input received: a group type needs a name.")
    return name.strip()


def _name_free(s: Session, name: str, but: str | None = None) -> None:
    other = s.scalar(select(m.GroupType).where(m.GroupType.name == name))
    if other is not None and other.id != but:
        raise Conflict(f"Group Type {name} already exists.")


def create(s: Session, body: dict[str, Any]) -> m.GroupType:
    name = _name(body)
    _name_free(s, name)
    is_public = check_flag(body.get("is_public", True), "is_public", default=True)
    gt = m.GroupType(id=m.new_id(), name=name,
                     description=check_text(body, "description", 255),
                     is_public=is_public, group_specs=check_specs(body.get("group_specs")))
    s.add(gt)
    s.flush()
    return gt


def update(s: Session, ref: str, body: dict[str, Any]) -> m.GroupType:
    gt = get(s, ref)
    if not {"name", "description", "is_public"} & set(body):
        raise Invalid("Invalid input received: Specify group type name, description or "
                      "is_public or a combination thereof.")
    if "name" in body:
        name = _name(body)
        _name_free(s, name, but=gt.id)
        gt.name = name
    if "description" in body:
        gt.description = check_text(body, "description", 255)
    if "is_public" in body:
        gt.is_public = check_flag(body["is_public"], "is_public", default=None)
    return gt


def delete(s: Session, ref: str) -> None:
    gt = get(s, ref)
    if s.scalar(select(m.Group.id).where(m.Group.group_type_id == gt.id)) is not None:
        raise Invalid(f"Invalid group type: Target group type {gt.id} is still in use.")
    s.delete(gt)


def set_specs(s: Session, ref: str, specs: dict[str, str]) -> dict[str, str]:
    gt = get(s, ref)
    gt.group_specs = {**(gt.group_specs or {}), **specs}
    return dict(gt.group_specs)


def spec(s: Session, ref: str, key: str) -> dict[str, str]:
    gt = get(s, ref)
    specs = dict(gt.group_specs or {})
    if key not in specs:
        raise NotFound(f"Group Type {gt.id} has no specs with key {key}.")
    return {key: specs[key]}


def set_spec(s: Session, ref: str, key: str, body: Any) -> dict[str, str]:
    """``PUT .../group_specs/{key}``: the body is ``{key: value}``, that key only."""
    check_only_key(body, key)
    value = check_specs(body)
    set_specs(s, ref, value)
    return value


def delete_spec(s: Session, ref: str, key: str) -> None:
    gt = get(s, ref)
    specs = dict(gt.group_specs or {})
    if key not in specs:
        raise NotFound(f"Group Type {gt.id} has no specs with key {key}.")
    del specs[key]
    gt.group_specs = specs
