"""Namespaces: listing, the detailed view, and create/update/delete.

A namespace may be created whole (with its properties, objects, tags and
resource type associations, as ``glance md-namespace-import`` sends it) in
one transaction: any bad part refuses all of it. Renaming a namespace
(``PUT``) keeps its contents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore import paging
from imagestore.errors import Conflict, Invalid
from imagestore.metadefs import access, contents, resource_types, schemas
from imagestore.policy import Caller

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("created_at", "updated_at", "namespace")
PARTS = ("resource_type_associations", "properties", "objects", "tags")


def view(ns: m.MetadefNamespace, associations: bool = True) -> dict[str, Any]:
    """A namespace as listings show it: no contents but its ``associations``."""
    out: dict[str, Any] = {"namespace": ns.namespace}
    for key in ("display_name", "description"):
        if getattr(ns, key) is not None:
            out[key] = getattr(ns, key)
    out.update(visibility=ns.visibility, protected=ns.protected, owner=ns.owner,
               created_at=access.iso(ns.created_at), updated_at=access.iso(ns.updated_at))
    if associations and ns.associations:
        out["resource_type_associations"] = [resource_types.association_view(a)
                                             for a in ns.associations]
    out.update(self=f"/v2/metadefs/namespaces/{ns.namespace}",
               schema="/v2/schemas/metadefs/namespace")
    return out


def detail(ns: m.MetadefNamespace, resource_type: str | None = None) -> dict[str, Any]:
    """``GET /v2/metadefs/namespaces/{ns}``: everything in it; with ``resource_type``,
    property names carry that association's prefix."""
    out = view(ns)
    prefix = resource_types.prefix_for(ns, resource_type)
    if ns.objects:
        out["objects"] = [contents.object_view(ns, o, prefix) for o in ns.objects]
    if ns.properties:
        out["properties"] = {f"{prefix or ''}{p.name}": contents.definition(p)
                             for p in ns.properties}
    if ns.tags:
        out["tags"] = [{"name": t.name} for t in ns.tags]
    return out


def show(s: Session, caller: Caller, name: str,
         resource_type: str | None = None) -> dict[str, Any]:
    return detail(access.get(s, caller, name), resource_type)


# -- listing -----------------------------------------------------------------------------


@dataclass
class NamespaceQuery:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    visibility: str | None = None
    resource_types: list[str] = field(default_factory=list)


def parse_query(params: Sequence[tuple[str, str]]) -> NamespaceQuery:
    single = dict(params)
    q = NamespaceQuery(marker=single.get("marker") or None)
    if "limit" in single:
        q.limit = paging.parse_limit(single["limit"], MAX_LIMIT)
    q.sort_key, q.sort_dir = paging.parse_sort(single, SORT_KEYS)
    if single.get("visibility"):
        if single["visibility"] not in schemas.VISIBILITIES:
            raise Invalid(f"Invalid visibility value: {single['visibility']}")
        q.visibility = single["visibility"]
    if single.get("resource_types"):
        q.resource_types = [r.strip() for r in single["resource_types"].split(",")
                            if r.strip()]
    return q


def listing(s: Session, caller: Caller,
            q: NamespaceQuery) -> tuple[list[m.MetadefNamespace], bool]:
    """One page of the namespaces the caller sees, and whether more follow."""
    ns_ = m.MetadefNamespace
    stmt: Select[m.MetadefNamespace] = select(ns_).where(access.readable_clause(caller))
    if q.visibility:
        stmt = stmt.where(ns_.visibility == q.visibility)
    if q.resource_types:
        stmt = stmt.where(exists().where(
            m.MetadefAssociation.namespace_id == ns_.id,
            m.MetadefAssociation.resource_type_id == m.MetadefResourceType.id,
            m.MetadefResourceType.name.in_(q.resource_types)))
    col: ColumnElement[Any] = getattr(ns_, q.sort_key)
    asc = q.sort_dir == "asc"
    if q.marker:
        marker = access.get(s, caller, q.marker)
        value = getattr(marker, q.sort_key)
        ahead = col > value if asc else col < value
        tie = ns_.id > marker.id if asc else ns_.id < marker.id
        stmt = stmt.where(or_(ahead, and_(col == value, tie)))
    order = [col.asc(), ns_.id.asc()] if asc else [col.desc(), ns_.id.desc()]
    rows = list(s.scalars(stmt.order_by(*order).limit(q.limit + 1)))
    return rows[:q.limit], len(rows) > q.limit


def page(s: Session, caller: Caller, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``GET /v2/metadefs/namespaces``: a page with Glance's ``first``/``next`` links."""
    q = parse_query(params)
    rows, more = listing(s, caller, q)
    return {"namespaces": [view(ns) for ns in rows],
            "schema": "/v2/schemas/metadefs/namespaces",
            **paging.links("/v2/metadefs/namespaces", params,
                           rows[-1].namespace if rows else None, more)}


# -- changes -----------------------------------------------------------------------------


def _taken(s: Session, name: str) -> bool:
    return s.scalar(select(m.MetadefNamespace.id)
                    .where(m.MetadefNamespace.namespace == name)) is not None


def create(s: Session, caller: Caller, body: Any) -> dict[str, Any]:
    """A new namespace, with whatever contents ``body`` carries (all or nothing)."""
    access.check_admin(caller, "add_metadef_namespace")
    body = schemas.check("namespace", body)
    name = body["namespace"]
    if not name:
        raise Invalid("A namespace needs a name.")
    if _taken(s, name):
        raise Conflict(f"Metadata definition namespace={name} already exists.")
    now = m.utcnow()
    ns = m.MetadefNamespace(
        namespace=name, display_name=body.get("display_name"),
        description=body.get("description"), visibility=body.get("visibility", "private"),
        protected=body.get("protected", False), owner=body.get("owner") or caller.project_id
        or "", created_at=now, updated_at=now, objects=[], properties=[], tags=[],
        associations=[])
    s.add(ns)
    for assoc in body.get("resource_type_associations", []):
        resource_types.new_association(s, ns, assoc)
    for prop_name, spec in body.get("properties", {}).items():
        contents.new_property(ns, prop_name, spec)
    for obj in body.get("objects", []):
        contents.new_object(ns, obj)
    for tag in body.get("tags", []):
        contents.new_tag(ns, tag.get("name"))
    s.flush()
    out = view(ns, associations=False)  # and the parts, as they were sent (as Glance)
    out.update({part: body[part] for part in PARTS if part in body})
    return out


def update(s: Session, caller: Caller, name: str, body: Any) -> dict[str, Any]:
    """Replace the namespace's own attributes; what ``body`` leaves out returns to
    its default, as Glance does. Contents it carries are ignored (glanceclient sends
    back the whole namespace it read): they change through their own calls."""
    ns = access.editable(s, caller, name, "modify_metadef_namespace")
    body = schemas.check("namespace", body)
    new = body["namespace"]
    if not new:
        raise Invalid("A namespace needs a name.")
    if new != name and _taken(s, new):
        raise Conflict(f"Metadata definition namespace={new} already exists.")
    ns.namespace = new
    ns.display_name = body.get("display_name")
    ns.description = body.get("description")
    ns.visibility = body.get("visibility") or "private"
    ns.protected = body.get("protected") or False
    ns.owner = body.get("owner") or caller.project_id or ns.owner
    ns.updated_at = m.utcnow()
    s.flush()
    return view(ns, associations=False)


def delete(s: Session, caller: Caller, name: str) -> None:
    ns = access.editable(s, caller, name, "delete_metadef_namespace")
    if ns.protected:
        access.check_unprotected(ns, "it")
    s.delete(ns)
