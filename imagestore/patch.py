"""Image updates: the ``application/openstack-images-v2.1-json-patch`` body, parsed.

A body is a JSON list of operations ``{"op": "add"|"replace"|"remove",
"path": "/<attribute>", "value": ...}``. Parsing checks the form only (op,
path, value present, attribute not read-only or reserved); applying them to
an image is :func:`imagestore.core.apply_patch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imagestore.errors import Forbidden, Invalid
from imagestore.schemas import READ_ONLY, RESERVED_PREFIX

MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
OPS = ("add", "replace", "remove")
_MISSING = object()
_BAD_ESCAPE = re.compile(r"~(?![01])")


@dataclass(frozen=True)
class PatchOp:
    op: str
    attr: str
    value: Any = None


def _attr(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise Invalid(f"Invalid JSON pointer for this resource: {path!r}")
    parts = path[1:].split("/")
    if len(parts) != 1 or not parts[0]:
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    if _BAD_ESCAPE.search(parts[0]):
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    return parts[0].replace("~1", "/").replace("~0", "~")  # RFC 6901 escapes


def parse(doc: Any) -> list[PatchOp]:
    """Operations from a decoded patch body; Invalid (400) or Forbidden (403)."""
    if not isinstance(doc, list):
        raise Invalid("Request body must be a JSON array of operation objects.")
    ops: list[PatchOp] = []
    for item in doc:
        if not isinstance(item, dict):
            raise Invalid("Operations must be JSON objects.")
        op = item.get("op")
        if op not in OPS:
            raise Invalid(f"Operation objects must contain exactly one member named "
                          f"'op' with one of: {', '.join(OPS)}; got {op!r}.")
        if "path" not in item:
            raise Invalid("Unable to find 'path' in JSON Schema change")
        attr = _attr(item["path"])
        if attr in READ_ONLY:
            raise Forbidden(f"Attribute '{attr}' is read-only.")
        if attr.startswith(RESERVED_PREFIX):
            raise Forbidden(f"Attribute '{attr}' is reserved.")
        value = item.get("value", _MISSING)
        if op == "remove":
            if value is not _MISSING:
                raise Invalid("Operation 'remove' takes no 'value'.")
            ops.append(PatchOp(op, attr))
            continue
        if value is _MISSING:
            raise Invalid(f"Operation '{op}' needs a 'value'.")
        ops.append(PatchOp(op, attr, value))
    return ops
