"""The JSON schemas the API publishes under ``/v2/schemas/...``.

glanceclient builds its commands and validates what it sends from these, so
property names, types and enums follow the Images API v2 reference exactly;
the descriptions are ours. ``is_base: false`` marks the well-known optional
properties (they are ordinary extra properties, removable like any other).
"""

from __future__ import annotations

import copy
from typing import Any

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "community", "shared", "private")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "uploading", "importing",
            "pending_delete", "deactivated")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
TASK_STATUSES = ("pending", "processing", "success", "failure")
TASK_TYPES = ("import", "api_image_import")
UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){12}$")

# Attributes nobody may set through the API (403 when a patch touches them).
READ_ONLY = frozenset({
    "checksum", "created_at", "direct_url", "file", "id", "locations", "os_hash_algo",
    "os_hash_value", "schema", "self", "size", "status", "stores", "updated_at",
    "virtual_size"})
# Attributes that are columns of the image row (the rest are extra properties).
BASE = frozenset({
    "name", "visibility", "protected", "os_hidden", "owner", "disk_format",
    "container_format", "min_disk", "min_ram", "tags", *READ_ONLY})
# Namespace the service keeps for itself (Glance's os_glance_*).
RESERVED_PREFIX = "os_glance"


def _optional_uuid(description: str) -> dict[str, Any]:
    return {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
            "description": description}


def _optional_string(description: str) -> dict[str, Any]:
    return {"type": "string", "is_base": False, "description": description}


IMAGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": UUID_PATTERN,
           "description": "The image's identifier (a UUID)."},
    "name": {"type": ["null", "string"], "maxLength": 255,
             "description": "A name for people; need not be unique."},
    "status": {"type": "string", "readOnly": True, "enum": list(STATUSES),
               "description": "Where the image is in its life cycle."},
    "visibility": {"type": "string", "enum": list(VISIBILITIES),
                   "description": "Who can see and use the image."},
    "protected": {"type": "boolean",
                  "description": "A protected image cannot be deleted."},
    "os_hidden": {"type": "boolean",
                  "description": "Hidden images are left out of listings unless asked for."},
    "checksum": {"type": ["null", "string"], "readOnly": True, "maxLength": 32,
                 "description": "MD5 of the image data, in hex."},
    "os_hash_algo": {"type": ["null", "string"], "readOnly": True, "maxLength": 64,
                     "description": "The hash algorithm of os_hash_value."},
    "os_hash_value": {"type": ["null", "string"], "readOnly": True, "maxLength": 128,
                      "description": "Hex digest of the image data by os_hash_algo."},
    "owner": {"type": ["null", "string"], "maxLength": 255,
              "description": "The project that owns the image."},
    "size": {"type": ["null", "integer"], "readOnly": True,
             "description": "Bytes of image data."},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                     "description": "Bytes of the disk the image describes."},
    "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                         "description": "The container the disk comes in."},
    "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                    "description": "The format of the disk data."},
    "created_at": {"type": "string", "readOnly": True,
                   "description": "When the image was registered."},
    "updated_at": {"type": "string", "readOnly": True,
                   "description": "When the image was last changed."},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255},
             "description": "Free-form labels."},
    "direct_url": {"type": "string", "readOnly": True,
                   "description": "Where the data is in its store (admins only)."},
    "locations": {"type": "array", "description": "Where the data is (admins only).",
                  "items": {"type": "object", "required": ["url", "metadata"],
                            "properties": {"url": {"type": "string", "maxLength": 255},
                                           "metadata": {"type": "object"}}}},
    "min_ram": {"type": "integer", "description": "RAM (MiB) needed to boot the image."},
    "min_disk": {"type": "integer", "description": "Disk (GiB) needed to boot the image."},
    "self": {"type": "string", "readOnly": True, "description": "The image's URL."},
    "file": {"type": "string", "readOnly": True, "description": "The image data's URL."},
    "stores": {"type": "string", "readOnly": True,
               "description": "The store holding the image data."},
    "schema": {"type": "string", "readOnly": True,
               "description": "The URL of this schema."},
    "kernel_id": _optional_uuid("Image holding the kernel an AMI-style image boots with."),
    "ramdisk_id": _optional_uuid("Image holding the ramdisk an AMI-style image boots with."),
    "instance_uuid": _optional_string("The server a snapshot image was taken from."),
    "architecture": _optional_string("CPU architecture the image needs (e.g. x86_64)."),
    "os_distro": _optional_string("The operating system distribution (e.g. ubuntu)."),
    "os_version": _optional_string("The operating system version (e.g. 24.04)."),
}


def page_links() -> list[dict[str, str]]:
    """The links of a paged collection's schema."""
    return [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"}]


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": copy.deepcopy(IMAGE_PROPERTIES),
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": page_links(),
    }


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "image_id": {"type": "string", "pattern": UUID_PATTERN,
                         "description": "The shared image."},
            "member_id": {"type": "string", "description": "The project it is shared with."},
            "status": {"type": "string", "enum": list(MEMBER_STATUSES),
                       "description": "Whether the member took the image."},
            "created_at": {"type": "string", "description": "When the member was added."},
            "updated_at": {"type": "string", "description": "When the member last changed."},
            "schema": {"type": "string", "readOnly": True,
                       "description": "The URL of this schema."},
        },
        "additionalProperties": False,
    }


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


def _task_properties(stub: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": UUID_PATTERN,
               "description": "The task's identifier (a UUID)."},
        "type": {"type": "string", "enum": list(TASK_TYPES),
                 "description": "What the task does."},
        "status": {"type": "string", "enum": list(TASK_STATUSES),
                   "description": "Where the task is in its life cycle."},
        "input": {"type": ["null", "object"],
                  "description": "The parameters the task was given."},
        "result": {"type": ["null", "object"],
                   "description": "What the task produced, once it succeeded."},
        "owner": {"type": "string", "description": "The project the task belongs to."},
        "message": {"type": "string",
                    "description": "Why the task failed (empty unless it did)."},
        "image_id": {"type": "string", "description": "The image the task works on."},
        "request_id": {"type": "string",
                       "description": "The request that started the task."},
        "user_id": {"type": "string", "description": "The user who started the task."},
        "expires_at": {"type": ["null", "string"],
                       "description": "When the finished task is forgotten."},
        "created_at": {"type": "string", "description": "When the task was created."},
        "updated_at": {"type": "string", "description": "When the task last changed."},
        "self": {"type": "string", "readOnly": True, "description": "The task's URL."},
        "schema": {"type": "string", "readOnly": True,
                   "description": "The URL of this schema."},
    }
    if stub:  # a listing leaves the details out
        for key in ("input", "result", "message", "image_id", "request_id", "user_id"):
            del props[key]
    return props


def task_schema() -> dict[str, Any]:
    return {"name": "task", "properties": _task_properties(stub=False),
            "additionalProperties": False}


def tasks_schema() -> dict[str, Any]:
    return {
        "name": "tasks",
        "properties": {
            "tasks": {"type": "array",
                      "items": {"name": "task", "properties": _task_properties(stub=True),
                                "additionalProperties": False}},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": page_links(),
    }


SCHEMAS = {
    "image": image_schema, "images": images_schema,
    "member": member_schema, "members": members_schema,
    "task": task_schema, "tasks": tasks_schema,
}
