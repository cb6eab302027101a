"""Resource types (``OS::Glance::Image``, ``OS::Nova::Flavor``...) and their
associations with namespaces.

An association says a namespace's definitions apply to a resource type, with
the ``prefix`` its property names take there (``hw_`` on images, ``hw:`` on
flavors) and, where a resource has several sets of key/value pairs, the
``properties_target`` they go to. Associating a namespace with a resource
type that does not exist yet creates the type, as Glance does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore.errors import Conflict, NotFound
from imagestore.metadefs import access, schemas
from imagestore.policy import Caller


def association_view(assoc: m.MetadefAssociation) -> dict[str, Any]:
    out: dict[str, Any] = {"name": assoc.resource_type.name}
    if assoc.prefix is not None:
        out["prefix"] = assoc.prefix
    if assoc.properties_target is not None:
        out["properties_target"] = assoc.properties_target
    out.update(created_at=access.iso(assoc.created_at),
               updated_at=access.iso(assoc.updated_at))
    return out


def resource_types(s: Session, caller: Caller) -> dict[str, Any]:
    """``GET /v2/metadefs/resource_types``: every resource type, by name."""
    rows = s.scalars(select(m.MetadefResourceType).order_by(m.MetadefResourceType.name))
    return {"resource_types": [
        {"name": rt.name, "created_at": access.iso(rt.created_at),
         "updated_at": access.iso(rt.updated_at)} for rt in rows]}


def associations(s: Session, caller: Caller, ns_name: str) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    return {"resource_type_associations": [association_view(a) for a in ns.associations]}


def new_association(s: Session, ns: m.MetadefNamespace, body: Any) -> m.MetadefAssociation:
    """Associate ``ns`` with the resource type ``body`` names (made if new); 409 when
    it already is."""
    body = schemas.check("resource_type", body)
    name = body["name"]
    if any(a.resource_type.name == name for a in ns.associations):
        raise Conflict(f"The metadata definition resource-type association of "
                       f"resource-type={name} to namespace={ns.namespace} already exists.")
    now = m.utcnow()
    rt = s.scalar(select(m.MetadefResourceType).where(m.MetadefResourceType.name == name))
    if rt is None:
        rt = m.MetadefResourceType(name=name, protected=False, created_at=now,
                                   updated_at=now)
        s.add(rt)
        s.flush()
    assoc = m.MetadefAssociation(resource_type=rt, prefix=body.get("prefix"),
                                 properties_target=body.get("properties_target"),
                                 created_at=now, updated_at=now)
    ns.associations.append(assoc)
    return assoc


def associate(s: Session, caller: Caller, ns_name: str, body: Any) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "add_metadef_resource_type_association")
    assoc = new_association(s, ns, body)
    s.flush()
    return association_view(assoc)


def dissociate(s: Session, caller: Caller, ns_name: str, name: str) -> None:
    ns = access.editable(s, caller, ns_name, "remove_metadef_resource_type_association")
    assoc = next((a for a in ns.associations if a.resource_type.name == name), None)
    if assoc is None:
        raise NotFound(f"The metadata definition resource-type association of "
                       f"resource-type={name} to namespace={ns.namespace} was not found.")
    access.check_unprotected(ns, "its resource type associations")
    ns.associations.remove(assoc)


def prefix_for(ns: m.MetadefNamespace, resource_type: str | None) -> str | None:
    """The prefix ``ns``'s properties take on ``resource_type`` (None: none)."""
    if not resource_type:
        return None
    assoc = next((a for a in ns.associations if a.resource_type.name == resource_type), None)
    return assoc.prefix if assoc is not None else None
