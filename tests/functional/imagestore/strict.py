"""Strict response schemas of the Images API v2, one per call, written from the
fields the API reference documents for it: every documented field that is always
there is required, optional ones are allowed, and nothing else is
(``additionalProperties: false``). An image's extra properties are strings, and
:func:`check_image` also checks they are exactly the ones the test set."""

from __future__ import annotations

from typing import Any

import jsonschema

STR = {"type": "string"}
NSTR = {"type": ["null", "string"]}
NINT = {"type": ["null", "integer"]}
BOOL = {"type": "boolean"}
INT = {"type": "integer"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None,
        extra: Any = False) -> dict[str, Any]:
    return {"type": "object", "properties": {**required, **(optional or {})},
            "required": sorted(required), "additionalProperties": extra}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


LINK = obj({"rel": STR, "href": STR})
VERSIONS = obj({"versions": array(obj({
    "id": {"type": "string", "pattern": r"^v2\.\d+$"},
    "status": {"enum": ["CURRENT", "SUPPORTED", "DEPRECATED", "EXPERIMENTAL"]},
    "links": array(LINK)}))})

IMAGE_CORE = {
    "checksum": NSTR, "container_format": NSTR, "created_at": STR, "disk_format": NSTR,
    "file": STR, "id": STR, "min_disk": INT, "min_ram": INT, "name": NSTR,
    "os_hash_algo": NSTR, "os_hash_value": NSTR, "os_hidden": BOOL, "owner": NSTR,
    "protected": BOOL, "schema": STR, "self": STR, "size": NINT, "status": STR,
    "tags": array(STR), "updated_at": STR, "virtual_size": NINT, "visibility": STR,
}
IMAGE_OPTIONAL = {"direct_url": STR, "locations": array(obj({"url": STR, "metadata": {
    "type": "object"}})), "stores": STR}
IMAGE = obj(IMAGE_CORE, IMAGE_OPTIONAL, extra=STR)
IMAGES = obj({"images": array(IMAGE), "first": STR, "schema": STR}, {"next": STR})

MEMBER = obj({"created_at": STR, "image_id": STR, "member_id": STR, "schema": STR,
              "status": {"enum": ["pending", "accepted", "rejected"]}, "updated_at": STR})
MEMBERS = obj({"members": array(MEMBER), "schema": STR})

_TASK = {"id": STR, "type": STR, "status": {"enum": ["pending", "processing", "success",
                                                      "failure"]},
         "owner": STR, "created_at": STR, "updated_at": STR, "self": STR, "schema": STR}
TASK = obj({**_TASK, "input": {"type": ["null", "object"]},
            "result": {"type": ["null", "object"]}, "message": STR},
           {"expires_at": STR, "image_id": STR, "request_id": STR, "user_id": STR})
TASKS = obj({"tasks": array(obj(_TASK, {"expires_at": STR})), "first": STR, "schema": STR},
            {"next": STR})
IMAGE_TASKS = obj({"tasks": array(obj({
    "id": STR, "type": STR, "status": STR, "owner": NSTR, "expires_at": NSTR,
    "created_at": STR, "updated_at": STR, "deleted_at": NSTR, "deleted": BOOL,
    "image_id": NSTR, "request_id": NSTR, "user_id": NSTR,
    "input": {"type": ["null", "object"]}, "result": {"type": ["null", "object"]},
    "message": STR}))})

IMPORT_INFO = obj({"import-methods": obj({"description": STR, "type": STR,
                                          "value": array(STR)})})
STORES = obj({"stores": array(obj({"id": STR, "description": STR}, {"default": BOOL}))})
_USAGE = obj({"limit": INT, "usage": INT})
USAGE = obj({"usage": obj({"image_size_total": _USAGE, "image_count_total": _USAGE,
                           "image_stage_total": _USAGE, "image_count_uploading": _USAGE})})

# -- metadata definitions -----------------------------------------------------------------

# what a property definition may say (the reference's property fields)
PROPERTY_KEYS = ("title", "description", "operators", "type", "required", "minimum",
                 "maximum", "maxLength", "minLength", "pattern", "enum", "readonly",
                 "default", "items", "maxItems", "minItems", "uniqueItems",
                 "additionalItems")
_PROPERTY_FIELDS: dict[str, Any] = {k: {} for k in PROPERTY_KEYS}
PROPERTY_DEF = {"type": "object", "required": ["title", "type"],
                "properties": _PROPERTY_FIELDS, "additionalProperties": False}
ASSOCIATION = obj({"name": STR, "created_at": STR, "updated_at": STR},
                  {"prefix": STR, "properties_target": STR})
_NS = {"namespace": STR, "visibility": {"enum": ["public", "private"]}, "protected": BOOL,
       "owner": STR, "created_at": STR, "updated_at": STR, "self": STR, "schema": STR}
_NS_OPTIONAL = {"display_name": STR, "description": STR}
OBJECT = obj({"name": STR, "created_at": STR, "updated_at": STR, "self": STR, "schema": STR},
             {"description": STR, "required": array(STR),
              "properties": {"type": "object", "additionalProperties": PROPERTY_DEF}})
NAMESPACE = obj(_NS, _NS_OPTIONAL)  # update
NAMESPACE_IN_LIST = obj(_NS, {**_NS_OPTIONAL,
                              "resource_type_associations": array(ASSOCIATION)})
NAMESPACE_DETAIL = obj(_NS, {
    **_NS_OPTIONAL, "resource_type_associations": array(ASSOCIATION),
    "objects": array(OBJECT),
    "properties": {"type": "object", "additionalProperties": PROPERTY_DEF},
    "tags": array(obj({"name": STR}))})
NAMESPACE_CREATED = obj(_NS, {  # the parts echo the request
    **_NS_OPTIONAL, "resource_type_associations": array({"type": "object"}),
    "objects": array({"type": "object"}), "properties": {"type": "object"},
    "tags": array(obj({"name": STR}))})
NAMESPACES = obj({"namespaces": array(NAMESPACE_IN_LIST), "first": STR, "schema": STR},
                 {"next": STR})
OBJECTS = obj({"objects": array(OBJECT), "schema": STR})
PROPERTY = {"type": "object", "required": ["name", "title", "type"],
            "properties": {**_PROPERTY_FIELDS, "name": STR, "title": STR, "type": STR},
            "additionalProperties": False}
PROPERTIES = obj({"properties": {"type": "object", "additionalProperties": PROPERTY_DEF}})
TAG = obj({"name": STR, "created_at": STR, "updated_at": STR})
TAGS = obj({"tags": array(obj({"name": STR}))})
RESOURCE_TYPES = obj({"resource_types": array(obj({"name": STR, "created_at": STR,
                                                   "updated_at": STR}))})
ASSOCIATIONS = obj({"resource_type_associations": array(ASSOCIATION)})


def check(body: Any, schema: dict[str, Any]) -> Any:
    """``body`` if it fits ``schema``; the validation error otherwise."""
    jsonschema.validate(body, schema)
    return body


def check_image(img: dict[str, Any], extras: set[str] | None = None) -> dict[str, Any]:
    """An image fits the schema and carries exactly ``extras`` besides the core."""
    check(img, IMAGE)
    assert set(img) - set(IMAGE_CORE) - set(IMAGE_OPTIONAL) == (extras or set()), img
    return img
