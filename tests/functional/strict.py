"""Strict JSON schemas of Keystone responses: exactly the fields the API reference
documents, each required, nothing more (what a strict client validates)."""

from __future__ import annotations

from typing import Any

import jsonschema
import requests

STR: dict[str, Any] = {"type": "string"}
STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"}


def obj(**props: Any) -> dict[str, Any]:
    """An object with exactly these properties, all required."""
    return {"type": "object", "properties": props, "required": sorted(props),
            "additionalProperties": False}


def array(item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"type": "array", "items": item, **kw}


SELF = obj(self=STR)
COLLECTION_LINKS = obj(self=STR, previous=STR_OR_NULL, next=STR_OR_NULL)
ID_NAME = obj(id=STR, name=STR)
ROLE = obj(id=STR, name=STR, domain_id=STR_OR_NULL, description=STR_OR_NULL,
           options={"type": "object"}, links=SELF)
ROLES = obj(roles=array(ROLE), links=COLLECTION_LINKS)
PROJECT = obj(id=STR, name=STR, domain_id=STR_OR_NULL, description=STR, enabled=BOOL,
              is_domain=BOOL, parent_id=STR_OR_NULL, tags=array(STR),
              options={"type": "object"}, links=SELF)
ENDPOINT = obj(id=STR, service_id=STR, interface=STR, region=STR_OR_NULL,
               region_id=STR_OR_NULL, url=STR, enabled=BOOL, links=SELF)
CATALOG = array(obj(id=STR, type=STR, name=STR, endpoints=array(obj(
    id=STR, interface=STR, region=STR_OR_NULL, region_id=STR_OR_NULL, url=STR))))
TOKEN_USER = obj(id=STR, name=STR, domain=ID_NAME, password_expires_at=STR_OR_NULL)


def token(**scope: Any) -> dict[str, Any]:
    """A token body with the common fields and the given scope-specific ones."""
    return obj(methods=array(STR), user=TOKEN_USER, audit_ids=array(STR), issued_at=TIME,
               expires_at=TIME, **scope)


def check(instance: Any, schema: dict[str, Any]) -> Any:
    jsonschema.validate(instance, schema)
    return instance


def ok(r: requests.Response, status: int, schema: dict[str, Any] | None = None) -> Any:
    """The JSON body of a response that must have ``status`` (and ``schema``)."""
    assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    if schema is None:
        return None
    return check(r.json(), schema)
