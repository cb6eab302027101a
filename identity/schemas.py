"""JSON schemas of identity request bodies (validated before any handler logic)."""

from __future__ import annotations

from typing import Any

_id = {"type": "string", "minLength": 1, "maxLength": 64}
_name = {"type": "string", "minLength": 1, "maxLength": 255}
# Keystone's limit for domain and project names.
_short_name = {"type": "string", "minLength": 1, "maxLength": 64}
_description = {"type": ["string", "null"], "maxLength": 65535}
_enabled = {"type": "boolean"}
# Project (and domain) tags: case-sensitive, no "/" or ",", at most 255 characters
# each and 80 per project, each once.
TAG = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"}
_tags = {"type": "array", "items": TAG, "maxItems": 80, "uniqueItems": True}
_ref = {"type": "object", "properties": {"id": _id, "name": _name}}


def wrap(member: str, props: dict[str, Any], required: tuple[str, ...] = (),
         extra: bool = True) -> dict[str, Any]:
    """``{"<member>": {...}}`` with the given properties."""
    inner: dict[str, Any] = {"type": "object", "properties": props,
                             "additionalProperties": extra}
    if required:
        inner["required"] = list(required)
    return {"type": "object", "properties": {member: inner}, "required": [member]}


_password_user = {
    "type": "object",
    "properties": {
        "id": _id, "name": _name, "password": {"type": "string", "maxLength": 4096},
        "domain": _ref,
    },
    "required": ["password"],
}

AUTH = {
    "type": "object",
    "required": ["auth"],
    "properties": {
        "auth": {
            "type": "object",
            "required": ["identity"],
            "properties": {
                "identity": {
                    "type": "object",
                    "required": ["methods"],
                    "properties": {
                        "methods": {"type": "array", "minItems": 1,
                                    "items": {"type": "string"}},
                        "password": {"type": "object", "required": ["user"],
                                     "properties": {"user": _password_user}},
                        "token": {"type": "object", "required": ["id"],
                                  "properties": {"id": {"type": "string"}}},
                        "application_credential": {
                            "type": "object", "required": ["secret"],
                            "properties": {
                                "id": _id, "name": _name,
                                "secret": {"type": "string", "maxLength": 4096},
                                "user": {"type": "object", "properties": {
                                    "id": _id, "name": _name, "domain": _ref}},
                            },
                        },
                    },
                },
                "scope": {
                    "anyOf": [
                        {"type": "string", "enum": ["unscoped"]},
                        {"type": "object", "properties": {
                            "project": {"type": "object", "properties": {
                                "id": _id, "name": _name, "domain": _ref}},
                            "domain": _ref,
                            "system": {"type": "object",
                                       "properties": {"all": {"type": "boolean"}}},
                        }},
                    ],
                },
            },
        },
    },
}

DOMAIN_CREATE = wrap("domain", {"name": _short_name, "description": _description,
                                "enabled": _enabled, "tags": _tags, "id": _id}, ("name",))
DOMAIN_UPDATE = wrap("domain", {"name": _short_name, "description": _description,
                                "enabled": _enabled, "tags": _tags})

PROJECT_CREATE = wrap("project", {
    "name": _short_name, "description": _description, "enabled": _enabled, "tags": _tags,
    "domain_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
    "parent_id": {"type": ["string", "null"]},
    "is_domain": {"type": "boolean"},
}, ("name",))
PROJECT_UPDATE = wrap("project", {"name": _short_name, "description": _description,
                                  "enabled": _enabled, "tags": _tags})
PROJECT_TAGS = {"type": "object", "properties": {"tags": _tags}, "required": ["tags"],
                "additionalProperties": False}

USER_CREATE = wrap("user", {
    "name": _name, "domain_id": _id, "enabled": _enabled,
    "password": {"type": ["string", "null"], "maxLength": 4096},
    "default_project_id": {"type": ["string", "null"]},
    "description": _description, "email": {"type": ["string", "null"]},
}, ("name",))
USER_UPDATE = wrap("user", {
    "name": _name, "enabled": _enabled,
    "password": {"type": ["string", "null"], "maxLength": 4096},
    "default_project_id": {"type": ["string", "null"]},
    "description": _description, "email": {"type": ["string", "null"]},
})
PASSWORD_CHANGE = wrap("user", {
    "password": {"type": "string", "minLength": 1, "maxLength": 4096},
    "original_password": {"type": "string", "maxLength": 4096},
}, ("password", "original_password"))

GROUP_CREATE = wrap("group", {"name": _name, "domain_id": _id, "description": _description},
                    ("name",))
GROUP_UPDATE = wrap("group", {"name": _name, "description": _description})

ROLE_CREATE = wrap("role", {"name": _name, "description": _description,
                            "domain_id": {"type": "null"}}, ("name",))
ROLE_UPDATE = wrap("role", {"name": _name, "description": _description})

REGION_CREATE = wrap("region", {"id": {"type": "string", "minLength": 1, "maxLength": 255},
                                "description": _description,
                                "parent_region_id": {"type": ["string", "null"]}})
REGION_UPDATE = wrap("region", {"description": _description,
                                "parent_region_id": {"type": ["string", "null"]}})

SERVICE_CREATE = wrap("service", {"type": _name, "name": {"type": "string", "maxLength": 255},
                                  "description": _description, "enabled": _enabled},
                      ("type",))
SERVICE_UPDATE = wrap("service", {"type": _name, "name": {"type": "string", "maxLength": 255},
                                  "description": _description, "enabled": _enabled})

_interface = {"type": "string", "enum": ["public", "internal", "admin"]}
_url = {"type": "string", "minLength": 1, "maxLength": 2048,
        "pattern": "^[a-zA-Z][a-zA-Z0-9+.-]*://"}
ENDPOINT_CREATE = wrap("endpoint", {
    "service_id": _id, "interface": _interface, "url": _url, "enabled": _enabled,
    "region_id": {"type": ["string", "null"]}, "region": {"type": ["string", "null"]},
}, ("service_id", "interface", "url"))
ENDPOINT_UPDATE = wrap("endpoint", {
    "service_id": _id, "interface": _interface, "url": _url, "enabled": _enabled,
    "region_id": {"type": ["string", "null"]}, "region": {"type": ["string", "null"]},
})

CREDENTIAL_CREATE = wrap("credential", {
    "type": _name, "blob": {"type": "string", "minLength": 1, "maxLength": 65535},
    "user_id": _id, "project_id": {"type": ["string", "null"]},
}, ("type", "blob", "user_id"))
CREDENTIAL_UPDATE = wrap("credential", {
    "type": _name, "blob": {"type": "string", "minLength": 1, "maxLength": 65535},
    "project_id": {"type": ["string", "null"]},
})

EC2_CREATE = {"type": "object", "properties": {"tenant_id": _id}, "required": ["tenant_id"]}

S3_TOKEN = {
    "type": "object",
    "required": ["credentials"],
    "properties": {"credentials": {
        "type": "object",
        "required": ["access", "token", "signature"],
        "properties": {"access": {"type": "string", "minLength": 1, "maxLength": 255},
                       "token": {"type": "string", "maxLength": 65535},
                       "signature": {"type": "string", "maxLength": 1024},
                       "signature_method": {"enum": ["HmacSHA1", "HmacSHA256"]},
                       "scope": {"type": "string", "minLength": 1, "maxLength": 255}},
    }},
}

_role_ref = {"type": "object", "properties": {"id": _id, "name": _name,
                                              "domain_id": {"type": ["string", "null"]}},
             "anyOf": [{"required": ["id"]}, {"required": ["name"]}]}
_access_rule = {
    "type": "object",
    "properties": {
        "id": _id,
        "path": {"type": "string", "minLength": 1, "maxLength": 225},
        "method": {"type": "string",
                   "enum": ["HEAD", "GET", "POST", "PUT", "PATCH", "DELETE"]},
        "service": {"type": "string", "minLength": 1, "maxLength": 64},
    },
    "additionalProperties": False,
    "anyOf": [{"required": ["id"]}, {"required": ["path", "method", "service"]}],
}
APPLICATION_CREDENTIAL_CREATE = wrap("application_credential", {
    "name": _name,
    "description": _description,
    "secret": {"type": ["string", "null"], "minLength": 1, "maxLength": 4096},
    "expires_at": {"type": ["string", "null"]},
    "roles": {"type": "array", "items": _role_ref},
    "unrestricted": {"type": ["boolean", "null"]},
    "access_rules": {"type": "array", "items": _access_rule},
}, ("name",), extra=False)

ENDPOINT_GROUP_CREATE = wrap("endpoint_group", {
    "name": _name, "description": _description, "filters": {"type": "object"},
}, ("name", "filters"))
ENDPOINT_GROUP_UPDATE = wrap("endpoint_group", {
    "name": _name, "description": _description, "filters": {"type": "object"},
})

DOMAIN_CONFIG = {
    "type": "object", "required": ["config"],
    "properties": {"config": {"type": "object", "minProperties": 1}},
}

CONSUMER_CREATE = {"type": "object", "properties": {"consumer": {
    "type": "object", "properties": {"description": _description},
    "additionalProperties": False}}}
# Only the description of a consumer changes.
CONSUMER_UPDATE = wrap("consumer", {"description": _description}, extra=False)
AUTHORIZE_REQUEST_TOKEN = {
    "type": "object", "required": ["roles"],
    "properties": {"roles": {"type": "array", "minItems": 1, "items": _role_ref}},
}
