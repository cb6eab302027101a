"""EC2's ``Filter.N.Name`` / ``Filter.N.Value.M``: parsed once, then matched on items.

Each action names the filters it takes; ``tag:<key>``, ``tag-key`` and
``tag-value`` are taken wherever the resource has tags. A filter matches when
any of its values matches any of the item's values for that name (values may use
``*`` and ``?``, ``\\`` escaping them, as EC2's); all filters must match. An
item's values are strings, or lists of them (``true``/``false`` for booleans).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ec2.errors import InvalidParameterValue
from ec2.params import Params

TAG_FILTERS = ("tag-key", "tag-value")


@dataclass(frozen=True)
class Filter:
    name: str
    values: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def accepts(self, candidates: list[str]) -> bool:
        return any(p.fullmatch(c) for p in self.patterns for c in candidates)


def pattern(value: str) -> re.Pattern[str]:
    """EC2's wildcards (``*``: any run, ``?``: one character; ``\\`` escapes) as a
    regular expression."""
    out: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def parse(params: Params, allowed: Collection[str], *, tagged: bool = True) -> list[Filter]:
    """The request's filters; InvalidParameterValue for a name the action does not take
    or a filter without values."""
    out: list[Filter] = []
    for item in params.structs("Filter"):
        name = item.required("Name", max_len=255)
        taggy = tagged and (name.startswith("tag:") or name in TAG_FILTERS)
        if name not in allowed and not taggy:
            raise InvalidParameterValue(f"The filter '{name}' is invalid")
        values = tuple(item.strings("Value"))
        if not values:
            raise InvalidParameterValue(f"The filter '{name}' needs at least one value")
        out.append(Filter(name, values, tuple(pattern(v) for v in values)))
    return out


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def matches(filters: list[Filter], fields: Mapping[str, Any],
            tags: Mapping[str, str] | None = None) -> bool:
    """Whether an item with these filter ``fields`` and ``tags`` passes every filter."""
    tags = tags or {}
    for f in filters:
        if f.name.startswith("tag:"):
            key = f.name[4:]
            candidates = [tags[key]] if key in tags else []
        elif f.name == "tag-key":
            candidates = list(tags)
        elif f.name == "tag-value":
            candidates = list(tags.values())
        else:
            candidates = _strings(fields.get(f.name))
        if not f.accepts(candidates):
            return False
    return True


def values_of(filters: list[Filter], name: str) -> tuple[str, ...] | None:
    """The values of the filter ``name`` when it has no wildcard (for narrowing what the
    native service is asked), else None."""
    for f in filters:
        if f.name == name and not any(ch in v for v in f.values for ch in "*?\\"):
            return f.values
    return None
