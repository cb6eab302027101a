"""Parsing before dispatch: list queries and JSON patches, alone."""

from __future__ import annotations

import pytest

from imagestore import listing, patch, tasks
from imagestore.errors import Forbidden, Invalid


def test_list_defaults() -> None:
    q = listing.parse([])
    assert q.limit == listing.DEFAULT_LIMIT and q.marker is None
    assert q.sort == [("created_at", "desc")] and q.visibility is None
    assert q.member_status == "accepted" and q.os_hidden is False and q.properties == {}


def test_list_sort_forms() -> None:
    assert listing.parse([("sort", "name:asc,size")]).sort == [("name", "asc"),
                                                                ("size", "desc")]
    q = listing.parse([("sort_key", "name"), ("sort_key", "id"), ("sort_dir", "asc")])
    assert q.sort == [("name", "asc"), ("id", "asc")]
    q = listing.parse([("sort_key", "name"), ("sort_key", "size"),
                       ("sort_dir", "asc"), ("sort_dir", "desc")])
    assert q.sort == [("name", "asc"), ("size", "desc")]
    for bad in ([("sort", "bogus:asc")], [("sort", "name:up")],
                [("sort", "name"), ("sort_key", "id")],
                [("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc"),
                 ("sort_dir", "asc")]):
        with pytest.raises(Invalid):
            listing.parse(bad)


def test_list_filters() -> None:
    q = listing.parse([("name", "in:a,b"), ("tag", "x"), ("tag", "y"), ("status", "active"),
                       ("owner", "p1"), ("size_min", "10"), ("size_max", "20"),
                       ("hw_disk_bus", "scsi"), ("visibility", "community"),
                       ("member_status", "all"), ("limit", "5000"), ("os_hidden", "true")])
    assert q.columns == {"name": ["a", "b"], "status": ["active"], "owner": ["p1"]}
    assert q.tags == ["x", "y"] and (q.size_min, q.size_max) == (10, 20)
    assert q.properties == {"hw_disk_bus": "scsi"} and q.visibility == "community"
    assert q.member_status == "all" and q.limit == listing.MAX_LIMIT and q.os_hidden is True
    # "in:" only where Glance allows it: an owner named "in:x" is just a name
    assert listing.parse([("owner", "in:x,y")]).columns == {"owner": ["in:x,y"]}


@pytest.mark.parametrize("params", [
    [("limit", "-1")], [("limit", "ten")], [("size_min", "x")], [("visibility", "world")],
    [("member_status", "maybe")], [("status", "happy")], [("disk_format", "floppy")],
    [("container_format", "zip")], [("protected", "perhaps")], [("created_at", "gt:2020")],
])
def test_list_bad_parameters(params: list[tuple[str, str]]) -> None:
    with pytest.raises(Invalid):
        listing.parse(params)


def test_page_links_keep_parameters() -> None:
    class Img:
        id = "abc"

    links = listing.page_links([("limit", "2"), ("marker", "old"), ("tag", "t")],
                               [Img()], more=True)  # type: ignore[list-item]
    assert links == {"first": "/v2/images?limit=2&tag=t",
                     "next": "/v2/images?limit=2&tag=t&marker=abc"}
    assert "next" not in listing.page_links([], [], more=False)


def test_patch_parse() -> None:
    ops = patch.parse([
        {"op": "replace", "path": "/name", "value": "n"},
        {"op": "add", "path": "/a~1b~0c", "value": "v"},
        {"op": "remove", "path": "/prop"},
    ])
    assert ops == [patch.PatchOp("replace", "name", "n"), patch.PatchOp("add", "a/b~c", "v"),
                   patch.PatchOp("remove", "prop")]


@pytest.mark.parametrize("doc", [
    {"op": "replace"}, [1], [{"op": "move", "path": "/name", "value": 1}],
    [{"op": "replace", "value": 1}], [{"op": "replace", "path": "name", "value": 1}],
    [{"op": "replace", "path": "/a/b", "value": 1}], [{"op": "replace", "path": "/"}],
    [{"op": "add", "path": "/name"}], [{"op": "remove", "path": "/x", "value": 1}],
    [{"op": "add", "path": "/bad~2escape", "value": "v"}],
])
def test_patch_malformed(doc: object) -> None:
    with pytest.raises(Invalid):
        patch.parse(doc)


@pytest.mark.parametrize("attr", ["status", "checksum", "size", "id", "self", "file",
                                  "os_hash_value", "os_glance_import_task"])
def test_patch_read_only_or_reserved(attr: str) -> None:
    with pytest.raises(Forbidden):
        patch.parse([{"op": "replace", "path": f"/{attr}", "value": "x"}])


def test_patch_draft4_form() -> None:
    """``application/openstack-images-v2.0-json-patch``: the operation is the key."""
    assert patch.draft_of(patch.MEDIA_TYPE_V20) == 4 and patch.draft_of(patch.MEDIA_TYPE) == 10
    ops = patch.parse([{"replace": "/name", "value": "n"}, {"add": "/x", "value": "v"},
                       {"remove": "/y"}], draft=4)
    assert ops == [patch.PatchOp("replace", "name", "n"),
                   patch.PatchOp("add", "x", "v", add_is_new=True),
                   patch.PatchOp("remove", "y")]
    for bad in ([{"op": "replace", "path": "/name", "value": "n"}],  # the 2.1 form
                [{"replace": "/a", "add": "/b", "value": 1}], [{"add": "/x"}],
                [{"remove": "/x", "value": 1}], [{"replace": "name", "value": 1}]):
        with pytest.raises(Invalid):
            patch.parse(bad, draft=4)
    with pytest.raises(Forbidden):
        patch.parse([{"replace": "/status", "value": "active"}], draft=4)


def test_patch_media_types() -> None:
    for kind in ("application/json", "application/json-patch+json", ""):
        with pytest.raises(patch.PatchMediaType) as err:
            patch.draft_of(kind)
        assert err.value.status == 415
        assert err.value.headers() == {"Accept-Patch": f"{patch.MEDIA_TYPE_V20}, "
                                                       f"{patch.MEDIA_TYPE}"}


def test_task_query() -> None:
    q = tasks.parse_query([])
    assert (q.limit, q.marker, q.sort_key, q.sort_dir, q.filters) == (
        tasks.DEFAULT_LIMIT, None, "created_at", "desc", {})
    q = tasks.parse_query([("limit", "5000"), ("sort_key", "status"), ("sort_dir", "asc"),
                           ("status", "success"), ("type", "import"), ("owner", "ignored"),
                           ("marker", "0b4a3a9e-5f2a-4b8e-9a51-3f3c2a1d9e11")])
    assert (q.limit, q.sort_key, q.sort_dir) == (tasks.MAX_LIMIT, "status", "asc")
    assert q.filters == {"status": "success", "type": "import"}
    for bad in ([("limit", "x")], [("limit", "-2")], [("marker", "not-a-uuid")],
                [("sort_key", "input")], [("sort_dir", "sideways")],
                [("status", "done")], [("type", "export")]):
        with pytest.raises(Invalid):
            tasks.parse_query(bad)
