"""EC2 tags, kept in the front's database (``ec2_tags``), per project.

The native services' own tags are not used: Glance and Neutron tags are bare
strings, not key/value pairs, and the block store's metadata is another thing
with other limits; one store keeps every resource's tags alike and lets every
Describe filter on them. Limits as EC2's: 50 tags a resource, keys of 1-128
characters not starting with ``aws:``, values of at most 256.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ec2 import models as m
from ec2.errors import InvalidParameterValue, LimitExceeded, MissingParameter
from ec2.params import Params

MAX_TAGS = 50
CHUNK = 500

Pairs = list[tuple[str, str]]


def check(key: str, value: str) -> None:
    if not 1 <= len(key) <= 128:
        raise InvalidParameterValue(f"Tag key '{key[:128]}' must be 1 to 128 characters "
                                    "long")
    if key.lower().startswith("aws:"):
        raise InvalidParameterValue("Tag keys starting with 'aws:' are reserved for "
                                    "internal use")
    if len(value) > 256:
        raise InvalidParameterValue(f"Tag value for key '{key}' must be at most 256 "
                                    "characters long")


def parse_pairs(items: list[Params]) -> Pairs:
    """``Tag.N.Key`` / ``Tag.N.Value`` (a missing value is empty)."""
    out: Pairs = []
    for item in items:
        key = item.text("Key")
        if key is None:
            raise MissingParameter(f"The request must contain the parameter {item.path}.Key")
        value = item.text("Value") or ""
        check(key, value)
        out.append((key, value))
    return out


def parse_keys(items: list[Params]) -> list[tuple[str, str | None]]:
    """DeleteTags' ``Tag.N.Key`` with an optional ``Tag.N.Value`` (None: any value)."""
    out: list[tuple[str, str | None]] = []
    for item in items:
        key = item.text("Key")
        if key is None:
            raise MissingParameter(f"The request must contain the parameter {item.path}.Key")
        out.append((key, item.text("Value")))
    return out


def specifications(params: Params, resource_type: str | Collection[str]) -> Pairs:
    """The tags ``TagSpecification.N`` asks to put on what an action makes: each
    specification must name (one of) the resource type(s) the action makes."""
    types = {resource_type} if isinstance(resource_type, str) else set(resource_type)
    out: Pairs = []
    for spec in params.structs("TagSpecification"):
        kind = spec.text("ResourceType")
        if kind is None:
            raise MissingParameter(f"The request must contain the parameter "
                                   f"{spec.path}.ResourceType")
        if kind not in types:
            raise InvalidParameterValue(f"'{kind}' is not a valid taggable resource type "
                                        "for this operation.")
        out += parse_pairs(spec.structs("Tag"))
    if len({k for k, _ in out}) > MAX_TAGS:
        raise LimitExceeded(f"The maximum number of tags ({MAX_TAGS}) would be exceeded",
                            "TagLimitExceeded")
    return out


def put(s: Session, project: str, resource_id: str, resource_type: str,
        pairs: Iterable[tuple[str, str]]) -> None:
    """Set tags on a resource (a key already there takes the new value)."""
    rows = {t.key: t for t in s.scalars(select(m.Tag).where(
        m.Tag.project_id == project, m.Tag.resource_id == resource_id))}
    for key, value in pairs:
        row = rows.get(key)
        if row is None:
            row = rows[key] = m.Tag(project_id=project, resource_id=resource_id, key=key,
                                    resource_type=resource_type)
            s.add(row)
        row.value = value
    if len(rows) > MAX_TAGS:
        raise LimitExceeded(f"The maximum number of tags ({MAX_TAGS}) on {resource_id} "
                            "would be exceeded", "TagLimitExceeded")
    s.flush()


def remove(s: Session, project: str, resource_ids: Collection[str],
           keys: list[tuple[str, str | None]]) -> None:
    """Remove tags: every tag of the resources when ``keys`` is empty; else each key
    (only where its value is the one given, when one is)."""
    base = delete(m.Tag).where(m.Tag.project_id == project,
                               m.Tag.resource_id.in_(list(resource_ids)))
    if not keys:
        s.execute(base)
        return
    for key, value in keys:
        stmt = base.where(m.Tag.key == key)
        if value is not None:
            stmt = stmt.where(m.Tag.value == value)
        s.execute(stmt)


def of(s: Session, project: str, resource_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """resource id -> {key: value} of the project's tags on those resources."""
    wanted = list(dict.fromkeys(resource_ids))
    out: dict[str, dict[str, str]] = {}
    for i in range(0, len(wanted), CHUNK):
        rows = s.execute(select(m.Tag.resource_id, m.Tag.key, m.Tag.value).where(
            m.Tag.project_id == project, m.Tag.resource_id.in_(wanted[i:i + CHUNK])))
        for rid, key, value in rows:
            out.setdefault(rid, {})[key] = value
    return out


def listing(s: Session, project: str) -> list[m.Tag]:
    """Every tag of the project."""
    return list(s.scalars(select(m.Tag).where(m.Tag.project_id == project)))


def forget(s: Session, resource_ids: Collection[str]) -> None:
    """A resource is gone: every project's tags on it go too."""
    if resource_ids:
        s.execute(delete(m.Tag).where(m.Tag.resource_id.in_(list(resource_ids))))


def prune(s: Session, project: str, resource_type: str, alive: Iterable[str]) -> None:
    """Drop the project's tags on resources of ``resource_type`` not among ``alive``
    (the whole of that kind the project has: the rest were deleted natively)."""
    keep = set(alive)
    stale = {rid for (rid,) in s.execute(select(m.Tag.resource_id).where(
        m.Tag.project_id == project, m.Tag.resource_type == resource_type))} - keep
    if stale:
        s.execute(delete(m.Tag).where(m.Tag.project_id == project,
                                      m.Tag.resource_id.in_(sorted(stale))))


def tag_set(tags: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """EC2's ``tagSet``."""
    return [{"key": k, "value": v} for k, v in sorted((tags or {}).items())]
