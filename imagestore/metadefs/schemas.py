"""The JSON schemas of metadata definitions, published under ``/v2/schemas/metadefs/``.

glanceclient builds models from them and validates both what it sends and
what it receives (``additionalProperties: false`` at the top of each
entity), so names, types and nesting follow the Images API reference; the
descriptions are ours. The service validates request bodies against the
same documents (:func:`check`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema

from imagestore.errors import Forbidden, Invalid
from imagestore.schemas import page_links

TYPES = ["array", "boolean", "integer", "number", "object", "string", None]
VISIBILITIES = ("public", "private")
READ_ONLY = ("self", "schema", "created_at", "updated_at")


def _time(what: str) -> dict[str, Any]:
    return {"type": "string", "readOnly": True, "format": "date-time",
            "description": f"When the {what} (read-only)."}


def definitions() -> dict[str, Any]:
    """Shared pieces: the definition of a property (by name in a dict), and the
    counters and string lists it uses."""
    return {
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                              {"default": 0}]},
        "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "property": {"type": "object", "additionalProperties": property_fields(False)},
    }


def property_fields(named: bool) -> dict[str, Any]:
    """What a property definition may say (a subset of JSON schema itself)."""
    fields: dict[str, Any] = {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": TYPES},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": TYPES}, "enum": {"type": "array"}}},
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }
    return {"type": "object", "properties": fields,
            "required": ["name", "title", "type"] if named else ["title", "type"]}


def _object_fields() -> dict[str, Any]:
    return {
        "name": {"type": "string", "maxLength": 80,
                 "description": "The object's name, unique in its namespace."},
        "description": {"type": "string", "description": "What the object describes."},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "created_at": _time("object was created"),
        "updated_at": _time("object last changed"),
    }


def _association_fields() -> dict[str, Any]:
    return {
        "name": {"type": "string", "maxLength": 80,
                 "description": "The resource type (e.g. OS::Glance::Image)."},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Put before each property name when the properties "
                                  "are set on this resource type (e.g. hw_)."},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Which of the resource's key/value sets the "
                                             "properties go to (e.g. image, for a "
                                             "volume's image metadata)."},
        "created_at": _time("association was made"),
        "updated_at": _time("association last changed"),
    }


def namespace_schema() -> dict[str, Any]:
    return {
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "maxLength": 80,
                          "description": "The namespace's name, unique in the cloud."},
            "display_name": {"type": "string", "maxLength": 80,
                             "description": "A name for people (dashboards show it)."},
            "description": {"type": "string", "maxLength": 500,
                            "description": "What the namespace's definitions are for."},
            "visibility": {"type": "string", "enum": list(VISIBILITIES),
                           "description": "public: everyone reads it; private: its "
                                          "owner's project only."},
            "protected": {"type": "boolean",
                          "description": "A protected namespace and its contents cannot "
                                         "be deleted."},
            "owner": {"type": "string", "maxLength": 255,
                      "description": "The project that owns the namespace."},
            "created_at": _time("namespace was created"),
            "updated_at": _time("namespace last changed"),
            "schema": {"type": "string", "readOnly": True},
            "self": {"type": "string", "readOnly": True},
            "resource_type_associations": {"type": "array", "items": {
                "type": "object", "properties": {
                    "name": {"type": "string"}, "prefix": {"type": "string"},
                    "properties_target": {"type": "string"}}}},
            "properties": {"$ref": "#/definitions/property"},
            "objects": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "description": {"type": "string"},
                "required": {"$ref": "#/definitions/stringArray"},
                "properties": {"$ref": "#/definitions/property"}}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}},
        },
        "additionalProperties": False,
        "required": ["namespace"],
        "definitions": definitions(),
    }


def object_schema() -> dict[str, Any]:
    return {"name": "object", "properties": _object_fields(), "additionalProperties": False,
            "required": ["name"], "definitions": definitions()}


def property_schema() -> dict[str, Any]:
    named = property_fields(True)
    return {"name": "property", "properties": named["properties"],
            "additionalProperties": False, "required": named["required"],
            "definitions": {k: v for k, v in definitions().items() if k != "property"}}


def tag_schema() -> dict[str, Any]:
    return {"name": "tag", "properties": {
        "name": {"type": "string", "maxLength": 80, "description": "The tag."},
        "created_at": _time("tag was created"),
        "updated_at": _time("tag last changed")},
        "additionalProperties": False, "required": ["name"]}


def association_schema() -> dict[str, Any]:
    return {"name": "resource_type_association", "properties": _association_fields(),
            "additionalProperties": False, "required": ["name"]}


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    """A list of ``item`` entities with Glance's paging links; the item's
    definitions move up to the collection (``$ref`` resolves from the root)."""
    item = copy.deepcopy(item)
    defs = item.pop("definitions", None)
    out: dict[str, Any] = {
        "name": name,
        "properties": {name: {"type": "array", "items": item},
                       "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": page_links(),
    }
    if defs:
        out["definitions"] = defs
    return out


def properties_schema() -> dict[str, Any]:
    named = property_fields(False)
    return {"name": "properties",
            "properties": {"properties": {"type": "object", "additionalProperties": named}},
            "links": page_links(),
            "definitions": {k: v for k, v in definitions().items() if k != "property"}}


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "metadefs/namespace": namespace_schema,
    "metadefs/namespaces": lambda: _collection("namespaces", namespace_schema()),
    "metadefs/object": object_schema,
    "metadefs/objects": lambda: _collection("objects", object_schema()),
    "metadefs/property": property_schema,
    "metadefs/properties": properties_schema,
    "metadefs/tag": tag_schema,
    "metadefs/tags": lambda: _collection("tags", tag_schema()),
    "metadefs/resource_type": association_schema,
    "metadefs/resource_types": lambda: _collection("resource_type_associations",
                                                   association_schema()),
}


def check(kind: str, body: Any, read_only: tuple[str, ...] = READ_ONLY) -> dict[str, Any]:
    """``body`` checked against the ``kind`` schema (``namespace``, ``object``,
    ``property``, ``tag``, ``resource_type``): 403 for read-only attributes, 400
    for anything else that does not fit."""
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object.")
    for key in read_only:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    schema = SCHEMAS[f"metadefs/{kind}"]()
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise Invalid(f"Provided object does not match schema '{schema['name']}': "
                      f"{where + ': ' if where else ''}{exc.message}") from None
    return body
