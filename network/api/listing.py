"""What every list call takes, as Neutron does: filters by any attribute (several values
of one are alternatives), tag filters (``tags``, ``tags-any``, ``not-tags``,
``not-tags-any``), ``sort_key``/``sort_dir``, pages (``limit``, ``marker``,
``page_reverse`` and ``<collection>_links``) and ``fields``.

It works on the rendered items, so a filter or sort key is exactly an attribute
the caller sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from multidict import MultiMapping
from yarl import URL

from common.errors import StrataError
from network.api.attributes import boolean
from network.errors import HTTPBadRequest

Item = dict[str, Any]
# A filter of its own (e.g. a port's ``fixed_ips=ip_address=...``): item, values -> keep?
Special = Callable[[Item, list[str]], bool]

PAGING = ("limit", "marker", "page_reverse")
RESERVED = frozenset({"fields", "sort_key", "sort_dir", "verbose", *PAGING,
                      "tags", "tags-any", "not-tags", "not-tags-any"})


def fields_of(query: MultiMapping[str]) -> list[str]:
    return [f for value in query.getall("fields", []) for f in value.split(",") if f]


def only(item: Item, fields: Sequence[str]) -> Item:
    return {k: v for k, v in item.items() if k in fields} if fields else item


def _matches(value: Any, wanted: list[str], name: str) -> bool:
    if isinstance(value, bool):
        return value in {boolean(name, w) for w in wanted}
    if isinstance(value, int):
        try:
            return value in {int(w) for w in wanted}
        except ValueError:
            raise HTTPBadRequest(f"Invalid input for {name}. Reason: '{wanted[0]}' is not "
                                 "an integer.") from None
    if isinstance(value, list):
        return any(str(v) in wanted for v in value)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, dict):
        raise HTTPBadRequest(f"[{name}] is invalid attribute for filtering")
    return str(value) in wanted


def _tags(items: list[Item], query: MultiMapping[str]) -> list[Item]:
    def words(key: str) -> list[set[str]]:
        return [set(v.split(",")) - {""} for v in query.getall(key, [])]

    for wanted in words("tags"):
        items = [i for i in items if wanted <= set(i.get("tags", []))]
    for wanted in words("tags-any"):
        items = [i for i in items if wanted & set(i.get("tags", []))]
    for wanted in words("not-tags"):
        items = [i for i in items if not wanted <= set(i.get("tags", []))]
    for wanted in words("not-tags-any"):
        items = [i for i in items if not wanted & set(i.get("tags", []))]
    return items


def filtered(items: list[Item], query: MultiMapping[str], known: frozenset[str],
             special: Mapping[str, Special]) -> list[Item]:
    for name in dict.fromkeys(query.keys()):
        if name in RESERVED:
            continue
        wanted = query.getall(name)
        if name in special:
            items = [i for i in items if special[name](i, wanted)]
        elif name in known:
            items = [i for i in items if name in i and _matches(i[name], wanted, name)]
        else:
            raise HTTPBadRequest(f"[{name}] is invalid attribute for filtering")
    return _tags(items, query)


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, "") if value is None else (1, value)


def ordered(items: list[Item], query: MultiMapping[str], known: frozenset[str]) -> list[Item]:
    keys, dirs = query.getall("sort_key", []), query.getall("sort_dir", [])
    if dirs and len(dirs) != len(keys):
        raise HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    for key in keys:
        if key not in known or any(isinstance(i.get(key), list | dict) for i in items):
            raise HTTPBadRequest(f"{key} is an invalid attribute for sort_keys")
    for d in dirs:
        if d not in ("asc", "desc"):
            raise HTTPBadRequest(f"{d} is an invalid value for sort_dir, valid value is "
                                 "'asc' or 'desc'")
    # Stable sorts from the last key to the first; the id breaks ties, as pages need.
    items = sorted(items, key=lambda i: str(i.get("id", "")))
    for key, direction in reversed(list(zip(keys, dirs or ["asc"] * len(keys),
                                            strict=True))):
        items.sort(key=lambda i, k=key: _sort_value(i.get(k)),  # type: ignore[misc]
                   reverse=direction == "desc")
    return items


def page(items: list[Item], query: MultiMapping[str], url: URL, collection: str,
         missing: Callable[[str], StrataError]) -> tuple[list[Item], list[dict[str, str]]]:
    """One page of ``items`` and its ``<collection>_links``."""
    raw = query.get("limit")
    marker = query.get("marker")
    reverse = boolean("page_reverse", query.get("page_reverse", "false"))
    limit = None
    if raw is not None:
        try:
            limit = int(raw)
            if limit < 0:
                raise ValueError(raw)
        except ValueError:
            raise HTTPBadRequest(f"Invalid input for limit. Reason: '{raw}' is not a valid "
                                 "non-negative integer.") from None
        limit = limit or None
    if marker is not None:
        ids = [i.get("id") for i in items]
        if marker not in ids:
            raise missing(marker)
        at = ids.index(marker)
        items = items[:at] if reverse else items[at + 1:]
    more = limit is not None and len(items) > limit
    if limit is not None:
        items = items[-limit:] if reverse else items[:limit]
    links: list[dict[str, str]] = []
    if items and limit is not None:
        first, last = items[0]["id"], items[-1]["id"]
        base = [(k, v) for k, v in query.items() if k not in PAGING]

        def link(rel: str, mark: str, back: bool) -> dict[str, str]:
            q = [*base, ("limit", str(limit)), ("marker", mark)]
            if back:
                q.append(("page_reverse", "True"))
            return {"href": str(url.with_query(q)), "rel": rel}

        if reverse:
            if more:
                links.append(link("previous", first, True))
            links.append(link("next", last, False))
        else:
            if more:
                links.append(link("next", last, False))
            if marker is not None:
                links.append(link("previous", first, True))
    return items, links


def respond(items: list[Item], query: MultiMapping[str], url: URL, collection: str,
            known: frozenset[str], special: Mapping[str, Special],
            missing: Callable[[str], StrataError]) -> dict[str, Any]:
    items = ordered(filtered(items, query, known, special), query, known)
    items, links = page(items, query, url, collection, missing)
    fields = fields_of(query)
    out: dict[str, Any] = {collection: [only(i, fields) for i in items]}
    if links:
        out[f"{collection}_links"] = links
    return out
