"""``GET /v2/images``: the query string parsed into a :class:`ListQuery`, then SQL.

Parsing is separate (and unit-tested alone); :func:`select_page` turns a
query into one SQL statement: the caller's visibility rules, the filters,
a stable sort (``id`` breaks ties) and keyset pagination after ``marker``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore import paging
from imagestore.errors import Invalid
from imagestore.policy import Caller, can_see
from imagestore.schemas import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    MEMBER_STATUSES,
    STATUSES,
    VISIBILITIES,
)

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Sort keys and how a NULL sorts (coalesced, so that ORDER BY and the keyset agree).
SORT_KEYS: dict[str, Any] = {
    "name": "", "status": "", "container_format": "", "disk_format": "", "size": -1,
    "virtual_size": -1, "id": "", "created_at": None, "updated_at": None, "min_disk": 0,
    "min_ram": 0, "owner": "", "visibility": ""}
# Filters on image columns; the ones here accept Glance's "in:a,b,c" form.
IN_FILTERS = ("name", "id", "status", "disk_format", "container_format")
COLUMN_FILTERS = (*IN_FILTERS, "owner")
RESERVED = frozenset({"limit", "marker", "sort", "sort_key", "sort_dir", "visibility",
                      "member_status", "tag", "size_min", "size_max", "protected",
                      "os_hidden", "created_at", "updated_at", *COLUMN_FILTERS})


@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    visibility: str | None = None  # None: the default listing; "all": everything visible
    member_status: str = "accepted"
    tags: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)  # column -> any of values
    properties: dict[str, str] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    protected: bool | None = None
    os_hidden: bool = False


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} param must be an integer") from None
    if value < minimum:
        raise Invalid(f"{name} param must be an integer >= {minimum}")
    return value


def _bool(name: str, raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise Invalid(f"Invalid value '{raw}' for {name}: expected a boolean.")


def _sort(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    sort = [v for k, v in params if k == "sort"]
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    if sort and (keys or dirs):
        raise Invalid("The 'sort' parameter cannot be combined with sort_key or sort_dir.")
    out: list[tuple[str, str]] = []
    if sort:
        for item in ",".join(sort).split(","):
            key, _, direction = item.strip().partition(":")
            out.append((key.strip(), direction.strip() or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise Invalid("The number of sort_dir values must match the sort_key values.")
        for i, key in enumerate(keys):
            direction = dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")
            out.append((key, direction))
        if not keys and dirs:
            out.append(("created_at", dirs[0]))
    for key, direction in out:
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {key}. It should be one of: "
                          f"{', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise Invalid(f"Invalid sort direction: {direction}. Use asc or desc.")
    return out or [("created_at", "desc")]


def _choices(name: str, values: list[str], allowed: Sequence[str]) -> None:
    for v in values:
        if v not in allowed:
            raise Invalid(f"Invalid {name} value: {v}")


def parse(params: Sequence[tuple[str, str]]) -> ListQuery:
    """A ListQuery from the query string's (name, value) pairs, in order."""
    q = ListQuery(sort=_sort(params))
    single: dict[str, str] = {}
    for key, value in params:
        if key == "tag":
            q.tags.append(value)
        elif key not in ("sort", "sort_key", "sort_dir"):
            single[key] = value
    if "limit" in single:
        q.limit = min(_int("limit", single["limit"]), MAX_LIMIT)
    q.marker = single.get("marker") or None
    if "visibility" in single:
        v = single["visibility"]
        if v not in (*VISIBILITIES, "all"):
            raise Invalid(f"Invalid visibility value: {v}")
        q.visibility = v
    if "member_status" in single:
        ms = single["member_status"]
        if ms not in (*MEMBER_STATUSES, "all"):
            raise Invalid(f"Invalid status value: {ms}")
        q.member_status = ms
    for name in ("size_min", "size_max"):
        if name in single:
            setattr(q, name, _int(name, single[name]))
    if "protected" in single:
        q.protected = _bool("protected", single["protected"])
    if "os_hidden" in single:
        q.os_hidden = _bool("os_hidden", single["os_hidden"])
    for name in COLUMN_FILTERS:
        if name not in single:
            continue
        raw = single[name]
        values = raw[3:].split(",") if name in IN_FILTERS and raw.startswith("in:") else [raw]
        q.columns[name] = values
    _choices("status", q.columns.get("status", []), STATUSES)
    _choices("disk_format", q.columns.get("disk_format", []), DISK_FORMATS)
    _choices("container_format", q.columns.get("container_format", []), CONTAINER_FORMATS)
    for name in ("created_at", "updated_at"):
        if name in single:
            raise Invalid(f"Filtering on {name} is not supported.")
    q.properties = {k: v for k, v in single.items() if k not in RESERVED}
    return q


def _sort_expr(key: str) -> ColumnElement[Any]:
    col: ColumnElement[Any] = getattr(m.Image, key)
    null_as = SORT_KEYS[key]
    return col if null_as is None else func.coalesce(col, null_as)


def _visible(caller: Caller, q: ListQuery) -> ColumnElement[bool]:
    me = caller.project_id or ""
    status = list(MEMBER_STATUSES) if q.member_status == "all" else [q.member_status]
    shared_with_me = and_(m.Image.visibility == "shared", exists().where(
        m.ImageMember.image_id == m.Image.id, m.ImageMember.member == me,
        m.ImageMember.status.in_(status)))
    if caller.is_admin:
        if q.visibility in (None, "all"):
            return true()
        return m.Image.visibility == q.visibility
    mine = m.Image.owner == me
    if q.visibility is None:
        return or_(m.Image.visibility == "public", mine, shared_with_me)
    if q.visibility == "all":
        return or_(m.Image.visibility.in_(("public", "community")), mine, shared_with_me)
    if q.visibility in ("public", "community"):
        return m.Image.visibility == q.visibility
    if q.visibility == "shared":
        return and_(m.Image.visibility == "shared", or_(mine, shared_with_me))
    return and_(m.Image.visibility == "private", mine)


def _after(marker: m.Image, sort: list[tuple[str, str]]) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the (sort + id) order."""
    keys = [*sort, ("id", sort[-1][1])] if sort[-1][0] != "id" else sort
    clauses = []
    for i, (key, direction) in enumerate(keys):
        expr = _sort_expr(key)
        value = getattr(marker, key)
        if value is None:
            value = SORT_KEYS[key]
        equal = [_sort_expr(k) == (getattr(marker, k) if getattr(marker, k) is not None
                                   else SORT_KEYS[k]) for k, _ in keys[:i]]
        step = expr > value if direction == "asc" else expr < value
        clauses.append(and_(*equal, step))
    return or_(*clauses) if clauses else false()


def select_page(s: Session, caller: Caller, q: ListQuery) -> tuple[list[m.Image], bool]:
    """One page of images and whether another follows it."""
    stmt: Select[m.Image] = select(m.Image).where(_visible(caller, q))
    for name, values in q.columns.items():
        col = getattr(m.Image, name)
        stmt = stmt.where(col.in_(values) if len(values) > 1 else col == values[0])
    for tag in q.tags:
        stmt = stmt.where(exists().where(m.ImageTag.image_id == m.Image.id,
                                         m.ImageTag.value == tag))
    for key, value in q.properties.items():
        stmt = stmt.where(exists().where(m.ImageProperty.image_id == m.Image.id,
                                         m.ImageProperty.name == key,
                                         m.ImageProperty.value == value))
    if q.size_min is not None:
        stmt = stmt.where(m.Image.size >= q.size_min)
    if q.size_max is not None:
        stmt = stmt.where(m.Image.size <= q.size_max)
    if q.protected is not None:
        stmt = stmt.where(m.Image.protected == q.protected)
    stmt = stmt.where(m.Image.os_hidden == q.os_hidden)
    if q.marker:
        marker = s.get(m.Image, q.marker)
        if marker is None or not can_see(caller, marker):
            raise Invalid(f"marker not found: {q.marker}")
        stmt = stmt.where(_after(marker, q.sort))
    order = [_sort_expr(k).asc() if d == "asc" else _sort_expr(k).desc() for k, d in q.sort]
    if q.sort[-1][0] != "id":
        last = q.sort[-1][1]
        order.append(m.Image.id.asc() if last == "asc" else m.Image.id.desc())
    rows = list(s.scalars(stmt.order_by(*order).limit(q.limit + 1)))
    return rows[:q.limit], len(rows) > q.limit


def page_links(params: Sequence[tuple[str, str]], images: list[m.Image],
               more: bool) -> dict[str, str]:
    """Glance's ``first`` and ``next`` links, keeping the caller's other parameters."""
    return paging.links("/v2/images", params, images[-1].id if images else None, more)
