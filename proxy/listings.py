"""Account and container listings as Swift's proxy answers them.

The nodes list in JSON; here the client's query is checked as Swift checks it
(:func:`listing_query`), the format chosen (``?format=``, else ``Accept``),
the entries finished (:func:`finish_entries`: the parameters Swift's SLO and
symlink middlewares keep in an object's listed ETag become their own keys) and
rendered in JSON, XML or plain text with Swift's fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from proxy.errors import fail

LISTING_PARAMS = ("prefix", "delimiter", "marker", "end_marker", "limit", "reverse", "path")
# The fields of Swift's XML listings, in its order (JSON carries every key).
OBJECT_FIELDS = ("name", "hash", "bytes", "content_type", "last_modified")
CONTAINER_FIELDS = ("name", "count", "bytes", "last_modified")
OPTIONAL_CONTAINER_FIELDS = ("storage_policy",)
# What Swift's slo and symlink middlewares keep in a listed ETag (``<etag>; k=v``).
ETAG_PARAMS = (b"; slo_etag=", b"; symlink_target=")


def listing_format(query: Mapping[str, str], accept: str) -> str:
    fmt = query.get("format", "").lower()
    if fmt in ("json", "xml", "plain"):
        return fmt
    if "application/json" in accept:
        return "json"
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    return "plain"


def listing_query(query: Mapping[str, str], kind: str, limit_max: int) -> dict[str, str]:
    """The query the nodes get: Swift's checks (a limit over the maximum is 412, one
    that is not a number is ignored; any delimiter, NULs included, is passed on)."""
    q = {k: query[k] for k in LISTING_PARAMS if k in query}
    if kind != "container":
        q.pop("path", None)
    limit = q.pop("limit", "")
    if limit.isdigit():
        if int(limit) > limit_max:
            raise fail(412, f"Maximum limit is {limit_max}")
        q["limit"] = limit
    q["format"] = "json"
    return q


def _etag_params(value: str) -> tuple[str, dict[str, str]]:
    """``etag; k=v; ...`` -> (etag, {k: v}), as Swift's ``parse_header``."""
    etag, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip()
    return etag.strip(), params


def finish_entry(item: dict[str, Any], version: str, account: str) -> dict[str, Any]:
    """An object's listing entry as Swift's middlewares leave it: ``slo_etag`` (an
    SLO manifest), ``symlink_path`` (a link; a static one ``symlink_etag`` and
    ``symlink_bytes`` too) taken out of its ``hash``, other parameters kept there."""
    value = item.get("hash")
    if not isinstance(value, str) or ";" not in value:
        return item
    etag, params = _etag_params(value)
    target = params.pop("symlink_target", None)
    target_account = params.pop("symlink_target_account", None) or quote(account)
    if "slo_etag" in params:
        item["slo_etag"] = f'"{params.pop("slo_etag")}"'
    if "symlink_target_etag" in params:
        item["symlink_etag"] = params.pop("symlink_target_etag")
    if "symlink_target_bytes" in params:
        size = params.pop("symlink_target_bytes")
        item["symlink_bytes"] = int(size) if size.isdigit() else size
    if target is not None:
        item["symlink_path"] = f"/{version}/{target_account}/{target}"
    item["hash"] = etag + "".join(f"; {k}={v}" for k, v in params.items())
    return item


def finish_entries(body: bytes, version: str, account: str) -> list[dict[str, Any]] | None:
    """The container listing ``body`` with :func:`finish_entry` applied, or None when
    no entry needs it (the nodes' JSON then goes out untouched)."""
    if not any(p in body for p in ETAG_PARAMS):
        return None
    items = json.loads(body)
    return [finish_entry(i, version, account) if "name" in i else i for i in items]


def render_listing(items: list[dict[str, Any]], fmt: str, kind: str,
                   name: str) -> tuple[bytes, str]:
    """A listing in ``fmt`` (json, xml, plain) and its Content-Type."""
    if fmt == "json":
        return (json.dumps(items, ensure_ascii=False).encode(),
                "application/json; charset=utf-8")
    if fmt == "xml":
        return _xml(items, kind, name), "application/xml; charset=utf-8"
    lines = [item.get("subdir") or item["name"] for item in items]
    return "".join(f"{n}\n" for n in lines).encode(), "text/plain; charset=utf-8"


def _xml(items: list[dict[str, Any]], kind: str, name: str) -> bytes:
    """Swift's XML listings (``listing_formats``): an account's has a line per entry
    and no ``<name>`` in a ``<subdir>``; a container's lists Swift's five fields."""
    root = ET.Element(kind, name=name)
    account = kind == "account"
    if account:
        root.text = "\n"
    for item in items:
        if "subdir" in item:
            el = ET.SubElement(root, "subdir", name=item["subdir"])
            if not account:
                ET.SubElement(el, "name").text = item["subdir"]
        else:
            el = ET.SubElement(root, "container" if account else "object")
            fields = CONTAINER_FIELDS if account else OBJECT_FIELDS
            for key in fields:
                ET.SubElement(el, key).text = str(item.get(key, ""))
            if account:
                for key in OPTIONAL_CONTAINER_FIELDS:
                    if key in item:
                        ET.SubElement(el, key).text = str(item[key])
        if account:
            el.tail = "\n"
    body: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
