"""Image updates: the two JSON-patch media types Glance takes, parsed.

* ``application/openstack-images-v2.1-json-patch`` (API 2.1+, RFC 6902's
  form): operations ``{"op": "add"|"replace"|"remove", "path": "/<attr>",
  "value": ...}``; ``add`` of an attribute that exists sets it.
* ``application/openstack-images-v2.0-json-patch`` (API 2.0, deprecated,
  JSON-patch draft 4): the operation is the key, its value the path, as in
  ``{"replace": "/name", "value": ...}``; ``add`` of an attribute that exists
  is a conflict (409) there.

Parsing checks the form only (one operation, a path, a value where needed,
the attribute not read-only or reserved); applying the operations to an image
is :func:`imagestore.core.apply_patch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imagestore.errors import Forbidden, Invalid, UnsupportedMediaType
from imagestore.schemas import READ_ONLY, RESERVED_PREFIX

MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"
MEDIA_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
# media type -> the JSON-patch draft its operations are written in
MEDIA_TYPES = {MEDIA_TYPE_V20: 4, MEDIA_TYPE: 10}
OPS = ("add", "replace", "remove")
_MISSING = object()
_BAD_ESCAPE = re.compile(r"~(?![01])")


class PatchMediaType(UnsupportedMediaType):
    """A PATCH body in a media type we do not take: 415, naming the ones we do."""

    def headers(self) -> dict[str, str]:
        return {"Accept-Patch": ", ".join(sorted(MEDIA_TYPES))}


@dataclass(frozen=True)
class PatchOp:
    op: str
    attr: str
    value: Any = None
    add_is_new: bool = False  # draft 4: ``add`` of an attribute that exists is 409


def draft_of(media_type: str) -> int:
    """The JSON-patch draft of a request's media type; 415 for any other type."""
    draft = MEDIA_TYPES.get(media_type)
    if draft is None:
        raise PatchMediaType(
            f"Unsupported Content-Type {media_type or 'none'!r}: image updates take "
            f"{MEDIA_TYPE} (or the deprecated {MEDIA_TYPE_V20}).")
    return draft


def _attr(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise Invalid(f"Invalid JSON pointer for this resource: {path!r}")
    parts = path[1:].split("/")
    if len(parts) != 1 or not parts[0]:
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    if _BAD_ESCAPE.search(parts[0]):
        raise Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    return parts[0].replace("~1", "/").replace("~0", "~")  # RFC 6901 escapes


def _op_and_path(item: dict[str, Any], draft: int) -> tuple[str, Any]:
    if draft == 4:
        named = [op for op in OPS if op in item]
        if len(named) != 1:
            raise Invalid("Operation objects must contain exactly one member named "
                          "'add', 'remove' or 'replace'.")
        return named[0], item[named[0]]
    op = item.get("op")
    if op not in OPS:
        raise Invalid(f"Operation objects must contain exactly one member named "
                      f"'op' with one of: {', '.join(OPS)}; got {op!r}.")
    if "path" not in item:
        raise Invalid("Unable to find 'path' in JSON Schema change")
    return op, item["path"]


def parse(doc: Any, draft: int = 10) -> list[PatchOp]:
    """Operations from a decoded patch body of ``draft`` (10: v2.1, 4: v2.0);
    Invalid (400) or Forbidden (403)."""
    if not isinstance(doc, list):
        raise Invalid("Request body must be a JSON array of operation objects.")
    ops: list[PatchOp] = []
    for item in doc:
        if not isinstance(item, dict):
            raise Invalid("Operations must be JSON objects.")
        op, path = _op_and_path(item, draft)
        attr = _attr(path)
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
        ops.append(PatchOp(op, attr, value, add_is_new=draft == 4 and op == "add"))
    return ops
