"""What a namespace holds: objects, properties and tags.

A property is a named definition (``title``, ``type`` and JSON-schema-like
constraints), kept as JSON; an object groups properties under a name (with
the list of those ``required``); a tag is a name. Names are unique within
their namespace (409 otherwise). Readers of the namespace read its contents;
admins change them; nothing is deleted from a protected namespace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore import paging
from imagestore.errors import Conflict, Invalid, NotFound
from imagestore.metadefs import access, schemas
from imagestore.policy import Caller

DEFAULT_TAG_LIMIT = 25
MAX_TAG_LIMIT = 1000
TAG_SORT_KEYS = ("created_at", "updated_at", "name")


Named = TypeVar("Named", m.MetadefObject, m.MetadefProperty, m.MetadefTag)


def _prefixed(props: dict[str, Any], prefix: str | None) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in props.items()} if prefix else props


def _check_free(ns: m.MetadefNamespace, items: Sequence[Named], name: str,
                kind: str) -> None:
    if any(item.name == name for item in items):
        raise Conflict(f"A metadata definition {kind} named {name} already exists in "
                       f"namespace {ns.namespace}.")


def _find(ns: m.MetadefNamespace, items: Sequence[Named], name: str, kind: str) -> Named:
    found = next((item for item in items if item.name == name), None)
    if found is None:
        raise NotFound(f"Metadata definition {kind} {name} not found in namespace "
                       f"{ns.namespace}.")
    return found


# -- objects -----------------------------------------------------------------------------


def object_view(ns: m.MetadefNamespace, obj: m.MetadefObject,
                prefix: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": obj.name}
    if obj.description is not None:
        out["description"] = obj.description
    if obj.required is not None:
        required = json.loads(obj.required)
        out["required"] = [f"{prefix}{r}" for r in required] if prefix else required
    if obj.schema is not None:
        out["properties"] = _prefixed(json.loads(obj.schema), prefix)
    out.update(created_at=access.iso(obj.created_at), updated_at=access.iso(obj.updated_at),
               self=f"/v2/metadefs/namespaces/{ns.namespace}/objects/{obj.name}",
               schema="/v2/schemas/metadefs/object")
    return out


def _set_object(obj: m.MetadefObject, body: dict[str, Any]) -> None:
    obj.name = body["name"]
    obj.description = body.get("description")
    obj.required = json.dumps(body["required"]) if "required" in body else None
    obj.schema = json.dumps(body["properties"]) if "properties" in body else None


def new_object(ns: m.MetadefNamespace, body: Any) -> m.MetadefObject:
    """Add an object (``body`` checked) to ``ns``; 409 when the name is taken."""
    body = schemas.check("object", body)
    _check_free(ns, ns.objects, body["name"], "object")
    now = m.utcnow()
    obj = m.MetadefObject(created_at=now, updated_at=now)
    _set_object(obj, body)
    ns.objects.append(obj)
    return obj


def objects(s: Session, caller: Caller, ns_name: str) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    return {"objects": [object_view(ns, o) for o in ns.objects],
            "schema": "/v2/schemas/metadefs/objects"}


def show_object(s: Session, caller: Caller, ns_name: str, name: str) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    return object_view(ns, _find(ns, ns.objects, name, "object"))


def create_object(s: Session, caller: Caller, ns_name: str, body: Any) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "add_metadef_object")
    obj = new_object(ns, body)
    s.flush()
    return object_view(ns, obj)


def update_object(s: Session, caller: Caller, ns_name: str, name: str,
                  body: Any) -> dict[str, Any]:
    """Replace the object with ``body`` (it may rename it; 409 onto a taken name)."""
    ns = access.editable(s, caller, ns_name, "modify_metadef_object")
    obj = _find(ns, ns.objects, name, "object")
    body = schemas.check("object", body)
    if body["name"] != name:
        _check_free(ns, ns.objects, body["name"], "object")
    _set_object(obj, body)
    obj.updated_at = m.utcnow()
    s.flush()
    return object_view(ns, obj)


# -- properties --------------------------------------------------------------------------


def definition(prop: m.MetadefProperty) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(prop.schema)
    return stored


def property_view(prop: m.MetadefProperty, name: str | None = None) -> dict[str, Any]:
    return {"name": name or prop.name, **definition(prop)}


def new_property(ns: m.MetadefNamespace, name: str, spec: dict[str, Any]) -> m.MetadefProperty:
    """Add a property ``name`` (its definition ``spec`` already checked) to ``ns``."""
    _check_free(ns, ns.properties, name, "property")
    now = m.utcnow()
    prop = m.MetadefProperty(name=name, schema=json.dumps(
        {k: v for k, v in spec.items() if k != "name"}), created_at=now, updated_at=now)
    ns.properties.append(prop)
    return prop


def properties(s: Session, caller: Caller, ns_name: str) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    return {"properties": {p.name: definition(p) for p in ns.properties}}


def show_property(s: Session, caller: Caller, ns_name: str, name: str,
                  resource_type: str | None = None) -> dict[str, Any]:
    """A property; with ``resource_type``, ``name`` carries that association's prefix."""
    ns = access.get(s, caller, ns_name)
    if resource_type:
        assoc = next((a for a in ns.associations if a.resource_type.name == resource_type),
                     None)
        if assoc is None:
            raise NotFound(f"Resource type {resource_type} is not associated with "
                           f"namespace={ns.namespace}.")
        prefix = assoc.prefix or ""
        if not name.startswith(prefix):
            raise NotFound(f"Property {name} does not start with the prefix '{prefix}' "
                           f"of resource type {resource_type}.")
        return property_view(_find(ns, ns.properties, name[len(prefix):], "property"), name)
    return property_view(_find(ns, ns.properties, name, "property"))


def create_property(s: Session, caller: Caller, ns_name: str, body: Any) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "add_metadef_property")
    body = schemas.check("property", body, ("created_at", "updated_at"))
    prop = new_property(ns, body["name"], body)
    s.flush()
    return property_view(prop)


def update_property(s: Session, caller: Caller, ns_name: str, name: str,
                    body: Any) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "modify_metadef_property")
    prop = _find(ns, ns.properties, name, "property")
    body = schemas.check("property", body, ("created_at", "updated_at"))
    if body["name"] != name:
        _check_free(ns, ns.properties, body["name"], "property")
    prop.name = body["name"]
    prop.schema = json.dumps({k: v for k, v in body.items() if k != "name"})
    prop.updated_at = m.utcnow()
    s.flush()
    return property_view(prop)


# -- tags --------------------------------------------------------------------------------


def tag_view(tag: m.MetadefTag) -> dict[str, Any]:
    return {"name": tag.name, "created_at": access.iso(tag.created_at),
            "updated_at": access.iso(tag.updated_at)}


def _check_tag_name(name: Any) -> str:
    schemas.check("tag", {"name": name})
    if not name:
        raise Invalid("A tag needs a name.")
    assert isinstance(name, str)
    return name


def new_tag(ns: m.MetadefNamespace, name: Any) -> m.MetadefTag:
    name = _check_tag_name(name)
    _check_free(ns, ns.tags, name, "tag")
    now = m.utcnow()
    tag = m.MetadefTag(name=name, created_at=now, updated_at=now)
    ns.tags.append(tag)
    return tag


@dataclass
class TagQuery:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"


def parse_tag_query(params: Sequence[tuple[str, str]]) -> TagQuery:
    single = dict(params)
    q = TagQuery(marker=single.get("marker") or None)
    if single.get("limit"):
        q.limit = paging.parse_limit(single["limit"], MAX_TAG_LIMIT)
    q.sort_key, q.sort_dir = paging.parse_sort(single, TAG_SORT_KEYS)
    return q


def tags(s: Session, caller: Caller, ns_name: str, q: TagQuery) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    rows = sorted(ns.tags, key=lambda t: (getattr(t, q.sort_key), t.id),
                  reverse=q.sort_dir == "desc")
    if q.marker:
        marker = _find(ns, ns.tags, q.marker, "tag")
        rows = rows[rows.index(marker) + 1:]
    if q.limit is not None:
        rows = rows[:q.limit]
    return {"tags": [{"name": t.name} for t in rows]}


def show_tag(s: Session, caller: Caller, ns_name: str, name: str) -> dict[str, Any]:
    ns = access.get(s, caller, ns_name)
    return tag_view(_find(ns, ns.tags, name, "tag"))


def create_tag(s: Session, caller: Caller, ns_name: str, name: str) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "add_metadef_tag")
    tag = new_tag(ns, name)
    s.flush()
    return tag_view(tag)


def create_tags(s: Session, caller: Caller, ns_name: str, body: Any,
                append: bool) -> dict[str, Any]:
    """``POST .../tags``: the listed tags replace the namespace's (or, with
    ``append``, join them); one name twice, or (appending) a name already there, is
    409 and changes nothing."""
    ns = access.editable(s, caller, ns_name, "add_metadef_tags")
    listed = body.get("tags") if isinstance(body, dict) else None
    if not isinstance(listed, list) or set(body) - {"tags"} or not all(
            isinstance(t, dict) and set(t) == {"name"} for t in listed):
        raise Invalid("Request body must be {\"tags\": [{\"name\": <tag>}, ...]}.")
    names = [_check_tag_name(t["name"]) for t in listed]
    if len(set(names)) != len(names):
        raise Conflict("The same tag is listed more than once.")
    if not append:
        ns.tags.clear()
        s.flush()
    made = [new_tag(ns, name) for name in names]
    s.flush()
    return {"tags": [{"name": t.name} for t in made]}


def update_tag(s: Session, caller: Caller, ns_name: str, name: str,
               body: Any) -> dict[str, Any]:
    ns = access.editable(s, caller, ns_name, "modify_metadef_tag")
    tag = _find(ns, ns.tags, name, "tag")
    body = schemas.check("tag", body, ("created_at", "updated_at"))
    new = _check_tag_name(body["name"])
    if new != name:
        _check_free(ns, ns.tags, new, "tag")
    tag.name = new
    tag.updated_at = m.utcnow()
    s.flush()
    return tag_view(tag)


# -- deleting ----------------------------------------------------------------------------

# kind -> (the namespace's list of them, the policy action deleting one)
_KINDS = {"object": ("objects", "delete_metadef_object"),
          "property": ("properties", "remove_metadef_property"),
          "tag": ("tags", "delete_metadef_tag")}


def delete_one(s: Session, caller: Caller, ns_name: str, kind: str, name: str) -> None:
    """``DELETE .../objects|properties|tags/{name}``: one ``kind`` of content."""
    attr, action = _KINDS[kind]
    ns = access.editable(s, caller, ns_name, action)
    items = getattr(ns, attr)
    found = _find(ns, items, name, kind)
    access.check_unprotected(ns, f"its {attr}")
    items.remove(found)



def delete_all(s: Session, caller: Caller, ns_name: str, kind: str) -> None:
    """``DELETE .../objects|properties|tags``: every one of them."""
    ns = access.editable(s, caller, ns_name, f"delete_metadef_{kind}")
    access.check_unprotected(ns, f"its {kind}")
    getattr(ns, kind).clear()

