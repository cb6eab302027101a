"""The version each route came in: the code's table, the routes the app serves and
docs/compat/image.md agree, and /versions lists what the table needs."""

from __future__ import annotations

import re
from pathlib import Path

from imagestore.api import data, images, metadefs, tasks
from imagestore.api.versions import CURRENT_MINOR, SCHEMA_SINCE, SINCE, versions_doc
from imagestore.metadefs.schemas import SCHEMAS as METADEF_SCHEMAS
from imagestore.schemas import SCHEMAS

DOC = Path(__file__).resolve().parents[3] / "docs" / "compat" / "image.md"
ROW = re.compile(r"^\| (GET|PUT|POST|PATCH|DELETE) \| `([^`]+)` \| ([^|]+) \| (.+) \|$")


def served() -> set[tuple[str, str]]:
    out = set()
    for table in (images.routes, data.routes, tasks.routes, metadefs.routes):
        for route in table:
            out.add((route.method, route.path))  # type: ignore[attr-defined]
    return out


def doc_rows() -> dict[tuple[str, str], tuple[str, str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            method, path, versions, state = match.groups()
            assert (method, path) not in rows, f"{method} {path} twice"
            rows[(method, path)] = (versions.strip(), state.strip())
    return rows


def test_every_route_has_a_version_and_every_version_a_route() -> None:
    assert served() == set(SINCE)


def test_the_compatibility_table_matches_the_code() -> None:
    rows = doc_rows()
    built = {key: v for key, v in rows.items() if v[1].startswith("built")}
    assert set(built) == set(SINCE), set(built) ^ set(SINCE)
    for key, minor in SINCE.items():
        versions = built[key][0]
        want = "unversioned" if minor is None else f"2.{minor}\u20132.{CURRENT_MINOR}"  # an en dash
        assert versions == want, (key, versions, want)
    for key, (versions, state) in rows.items():
        if key not in SINCE:
            assert versions == "—" and state.startswith("not built"), key


def test_versions_list_every_minor_a_route_needs() -> None:
    doc = versions_doc("http://image.test")
    ids = [v["id"] for v in doc["versions"]]
    assert ids[0] == f"v2.{CURRENT_MINOR}" and ids[-1] == "v2.0"
    assert [v["status"] for v in doc["versions"]].count("CURRENT") == 1
    needed = {m for m in SINCE.values() if m is not None} | set(SCHEMA_SINCE.values())
    assert {f"v2.{m}" for m in needed} <= set(ids)
    assert set(SCHEMA_SINCE) == set(SCHEMAS)
    assert all(name.startswith("metadefs/") for name in METADEF_SCHEMAS)
