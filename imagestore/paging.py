"""What every listing's query string shares: ``limit``, ``sort_key`` and
``sort_dir``, and Glance's ``first``/``next`` links (which keep the caller's
other parameters)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from imagestore.errors import Invalid


def parse_limit(raw: str, maximum: int) -> int:
    """A ``limit`` (400 unless a non-negative integer), capped at ``maximum``."""
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid("limit param must be an integer") from None
    if limit < 0:
        raise Invalid("limit param must be positive")
    return min(limit, maximum)


def parse_sort(single: Mapping[str, str], keys: Sequence[str],
               default: str = "created_at") -> tuple[str, str]:
    """(``sort_key``, ``sort_dir``): one of ``keys`` (``default`` when absent) and
    ``asc`` or ``desc`` (``desc`` when absent)."""
    direction = single.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise Invalid(f"Invalid sort direction: {direction}")
    key = single.get("sort_key", default)
    if key not in keys:
        raise Invalid(f"Invalid sort key: {key}. It must be one of the following: "
                      f"{', '.join(keys)}.")
    return key, direction


def links(path: str, params: Sequence[tuple[str, str]], last: str | None,
          more: bool) -> dict[str, str]:
    """``first`` (``path`` with the caller's parameters but the marker) and, when
    ``more`` follow, ``next`` (the same after ``last``)."""
    kept = [(k, v) for k, v in params if k != "marker"]
    out = {"first": path + (f"?{urlencode(kept)}" if kept else "")}
    if more and last is not None:
        out["next"] = f"{path}?" + urlencode([*kept, ("marker", last)])
    return out
