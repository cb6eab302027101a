"""Metadata definitions on a real (SQLite) database: the catalog loaded by the
migration, visibility and admin-only changes, whole-namespace create, renames,
protection, prefixes and paging."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from common.db import Database
from imagestore.errors import Conflict, Forbidden, Invalid, NotFound
from imagestore.metadefs import catalog, contents, namespaces, resource_types, schemas
from imagestore.policy import Caller

ADMIN = Caller("uz", "proj-admin", frozenset({"admin", "member", "reader"}))
A = Caller("ua", "proj-a", frozenset({"member", "reader"}))
B = Caller("ub", "proj-b", frozenset({"member", "reader"}))


def names(db: Database, who: Caller, *params: tuple[str, str]) -> list[str]:
    page = db.run_sync(lambda s: namespaces.page(s, who, list(params)))
    return [ns["namespace"] for ns in page["namespaces"]]


def test_catalog_files_are_valid_namespaces() -> None:
    docs = catalog.namespaces()
    assert len(docs) >= 10
    for doc in docs:
        schemas.check("namespace", doc)
        assert doc["visibility"] == "public" and doc["protected"] is True
        assert doc["resource_type_associations"] and doc["properties"]
    by_name = {d["namespace"]: d for d in docs}
    for wanted in ("OS::Compute::Hypervisor", "OS::Compute::VirtCPUTopology",
                   "OS::Compute::Watchdog", "OS::Compute::RandomNumberGenerator",
                   "OS::Compute::LibvirtImage", "OS::Compute::GuestShutdownBehavior",
                   "OS::Compute::InstanceData", "OS::OperatingSystem"):
        assert wanted in by_name
    assert "watchdog_action" in by_name["OS::Compute::Watchdog"]["properties"]


def test_the_migration_loads_the_catalog(db: Database) -> None:
    listed = names(db, A, ("limit", "1000"))
    assert sorted(listed) == sorted(d["namespace"] for d in catalog.namespaces())
    rts = db.run_sync(lambda s: resource_types.resource_types(s, A))["resource_types"]
    assert {"OS::Glance::Image", "OS::Nova::Flavor", "OS::Cinder::Volume"} <= {
        r["name"] for r in rts}
    # the detailed view, with and without a resource type's prefix
    ns = db.run_sync(lambda s: namespaces.show(s, A, "OS::Compute::Watchdog"))
    assert set(ns["properties"]) == {"watchdog_action"}
    flavor = db.run_sync(lambda s: namespaces.show(s, A, "OS::Compute::Watchdog",
                                                   "OS::Nova::Flavor"))
    assert set(flavor["properties"]) == {"hw:watchdog_action"}
    prop = db.run_sync(lambda s: contents.show_property(
        s, A, "OS::Compute::Watchdog", "hw_watchdog_action", "OS::Glance::Image"))
    assert prop["name"] == "hw_watchdog_action" and "reset" in prop["enum"]
    with pytest.raises(NotFound):
        db.run_sync(lambda s: contents.show_property(
            s, A, "OS::Compute::Watchdog", "watchdog_action", "OS::Nova::Flavor"))
    # responses fit the schemas glanceclient validates them with
    jsonschema.validate({k: v for k, v in ns.items() if k != "self"},
                        schemas.namespace_schema())


def test_resource_type_filter_and_paging(db: Database) -> None:
    flavor = names(db, A, ("resource_types", "OS::Nova::Flavor"), ("limit", "1000"))
    assert "OS::Compute::Quota" in flavor and "OS::OperatingSystem" not in flavor
    both = names(db, A, ("resource_types", "OS::Nova::Flavor,OS::Glance::Image"),
                 ("limit", "1000"))
    assert set(flavor) < set(both)
    seen: list[str] = []
    params: list[tuple[str, str]] = [("limit", "5"), ("sort_key", "namespace"),
                                     ("sort_dir", "asc")]
    while True:
        page = db.run_sync(lambda s, p=params: namespaces.page(s, A, p))
        seen += [n["namespace"] for n in page["namespaces"]]
        if "next" not in page:
            break
        marker = page["next"].rsplit("marker=", 1)[1]
        params = [*params[:3], ("marker", marker.replace("%3A", ":"))]
    assert seen == sorted(names(db, A, ("limit", "1000")))
    for bad in ([("sort_key", "owner")], [("sort_dir", "up")], [("limit", "x")],
                [("visibility", "shared")], [("limit", "-1")]):
        with pytest.raises(Invalid):
            namespaces.parse_query(bad)


def whole(name: str, **extra: Any) -> dict[str, Any]:
    return {"namespace": name, "display_name": "Whole", "visibility": "private",
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "x_"},
                                           {"name": "Custom::New"}],
            "properties": {"speed": {"title": "Speed", "type": "integer", "minimum": 1}},
            "objects": [{"name": "Box", "required": ["w"], "properties": {
                "w": {"title": "Width", "type": "number"}}}],
            "tags": [{"name": "t1"}, {"name": "t2"}], **extra}


def test_private_namespaces_belong_to_their_project(db: Database) -> None:
    made = db.run_sync(lambda s: namespaces.create(s, ADMIN, whole("Mine", owner="proj-a")))
    assert made["owner"] == "proj-a" and made["tags"] == [{"name": "t1"}, {"name": "t2"}]
    assert "Mine" in names(db, A, ("limit", "1000"))
    assert "Mine" not in names(db, B, ("limit", "1000"))
    with pytest.raises(NotFound):
        db.run_sync(lambda s: namespaces.show(s, B, "Mine"))
    with pytest.raises(NotFound):  # its contents are as invisible
        db.run_sync(lambda s: contents.show_object(s, B, "Mine", "Box"))
    shown = db.run_sync(lambda s: namespaces.show(s, A, "Mine", "OS::Glance::Image"))
    assert set(shown["properties"]) == {"x_speed"}
    assert shown["objects"][0]["required"] == ["x_w"]
    # a new resource type was made by the association
    rts = db.run_sync(lambda s: resource_types.resource_types(s, A))["resource_types"]
    assert "Custom::New" in {r["name"] for r in rts}
    assert names(db, A, ("visibility", "private")) == ["Mine"]


def test_only_admins_change_definitions(db: Database) -> None:
    db.run_sync(lambda s: namespaces.create(s, ADMIN, whole("Shared", visibility="public")))
    changes = [
        lambda s: namespaces.create(s, A, {"namespace": "Nope"}),
        lambda s: namespaces.update(s, A, "Shared", {"namespace": "Shared"}),
        lambda s: namespaces.delete(s, A, "Shared"),
        lambda s: contents.create_object(s, A, "Shared", {"name": "o"}),
        lambda s: contents.create_property(s, A, "Shared", {"name": "p", "title": "P",
                                                           "type": "string"}),
        lambda s: contents.create_tag(s, A, "Shared", "t3"),
        lambda s: contents.delete_one(s, A, "Shared", "tag", "t1"),
        lambda s: resource_types.associate(s, A, "Shared", {"name": "OS::Nova::Flavor"}),
    ]
    for change in changes:
        with pytest.raises(Forbidden):
            db.run_sync(change)
    assert db.run_sync(lambda s: contents.tags(s, A, "Shared", contents.TagQuery()))[
        "tags"] == [{"name": "t2"}, {"name": "t1"}]


def test_bad_bodies_make_nothing(db: Database) -> None:
    for body in ({"namespace": "X", "visibility": "world"},
                 {"namespace": "X", "created_at": "now"},
                 {"namespace": "X", "properties": {"p": {"title": "no type"}}},
                 {"namespace": "X", "objects": [{"name": "a"}, {"name": "a"}]},
                 {"namespace": "X", "tags": [{"name": "a"}, {"name": "a"}]},
                 {"namespace": "X", "unknown": 1}, {"display_name": "no name"},
                 {"namespace": "x" * 81}, ["not", "an", "object"]):
        with pytest.raises((Invalid, Forbidden, Conflict)):
            db.run_sync(lambda s, b=body: namespaces.create(s, ADMIN, b))
    assert "X" not in names(db, ADMIN, ("limit", "1000"))
    db.run_sync(lambda s: namespaces.create(s, ADMIN, {"namespace": "X"}))
    with pytest.raises(Conflict):
        db.run_sync(lambda s: namespaces.create(s, ADMIN, {"namespace": "X"}))


def test_rename_update_and_protection(db: Database) -> None:
    db.run_sync(lambda s: namespaces.create(s, ADMIN, whole("Old", protected=True)))
    db.run_sync(lambda s: namespaces.create(s, ADMIN, {"namespace": "Other"}))
    with pytest.raises(Conflict):
        db.run_sync(lambda s: namespaces.update(s, ADMIN, "Old", {"namespace": "Other"}))
    for delete in (lambda s: namespaces.delete(s, ADMIN, "Old"),
                   lambda s: contents.delete_one(s, ADMIN, "Old", "object", "Box"),
                   lambda s: contents.delete_one(s, ADMIN, "Old", "property", "speed"),
                   lambda s: contents.delete_one(s, ADMIN, "Old", "tag", "t1"),
                   lambda s: contents.delete_all(s, ADMIN, "Old", "tags"),
                   lambda s: resource_types.dissociate(s, ADMIN, "Old", "Custom::New")):
        with pytest.raises(Forbidden):
            db.run_sync(delete)
    # PUT replaces the namespace's own fields, keeps its contents
    out = db.run_sync(lambda s: namespaces.update(s, ADMIN, "Old", {
        "namespace": "New", "description": "d",
        "properties": {"ignored": {"title": "I", "type": "string"}}}))
    assert out["namespace"] == "New" and out["protected"] is False
    assert out["visibility"] == "private" and "display_name" not in out
    shown = db.run_sync(lambda s: namespaces.show(s, ADMIN, "New"))
    assert set(shown["properties"]) == {"speed"} and shown["objects"][0]["name"] == "Box"
    # unprotected now: contents and the namespace go
    db.run_sync(lambda s: contents.delete_all(s, ADMIN, "New", "objects"))
    assert db.run_sync(lambda s: contents.objects(s, ADMIN, "New"))["objects"] == []
    db.run_sync(lambda s: namespaces.delete(s, ADMIN, "New"))
    with pytest.raises(NotFound):
        db.run_sync(lambda s: namespaces.show(s, ADMIN, "New"))


def test_objects_properties_and_tags(db: Database) -> None:
    db.run_sync(lambda s: namespaces.create(s, ADMIN, {"namespace": "N"}))
    obj = db.run_sync(lambda s: contents.create_object(s, ADMIN, "N", {
        "name": "o1", "description": "first"}))
    assert obj["self"] == "/v2/metadefs/namespaces/N/objects/o1" and "properties" not in obj
    with pytest.raises(Conflict):
        db.run_sync(lambda s: contents.create_object(s, ADMIN, "N", {"name": "o1"}))
    renamed = db.run_sync(lambda s: contents.update_object(s, ADMIN, "N", "o1", {
        "name": "o2", "properties": {"a": {"title": "A", "type": "string"}}}))
    assert renamed["name"] == "o2" and "description" not in renamed
    prop = db.run_sync(lambda s: contents.create_property(s, ADMIN, "N", {
        "name": "p1", "title": "P", "type": "string", "enum": ["x", "y"]}))
    assert prop == {"name": "p1", "title": "P", "type": "string", "enum": ["x", "y"]}
    with pytest.raises(Invalid):
        db.run_sync(lambda s: contents.create_property(s, ADMIN, "N", {
            "name": "p2", "title": "P", "type": "str"}))
    db.run_sync(lambda s: contents.update_property(s, ADMIN, "N", "p1", {
        "name": "p9", "title": "P9", "type": "boolean"}))
    assert db.run_sync(lambda s: contents.properties(s, ADMIN, "N")) == {
        "properties": {"p9": {"title": "P9", "type": "boolean"}}}
    db.run_sync(lambda s: contents.create_tags(s, ADMIN, "N", {"tags": [
        {"name": "a"}, {"name": "b"}, {"name": "c"}]}, append=False))
    with pytest.raises(Conflict):  # appending one that exists changes nothing
        db.run_sync(lambda s: contents.create_tags(s, ADMIN, "N", {"tags": [
            {"name": "d"}, {"name": "a"}]}, append=True))
    db.run_sync(lambda s: contents.create_tags(s, ADMIN, "N", {"tags": [{"name": "d"}]},
                                               append=True))
    q = contents.parse_tag_query([("sort_key", "name"), ("sort_dir", "asc"),
                                  ("limit", "2"), ("marker", "a")])
    assert db.run_sync(lambda s: contents.tags(s, ADMIN, "N", q)) == {
        "tags": [{"name": "b"}, {"name": "c"}]}
    db.run_sync(lambda s: contents.create_tags(s, ADMIN, "N", {"tags": [{"name": "z"}]},
                                               append=False))
    assert db.run_sync(lambda s: contents.tags(s, ADMIN, "N", contents.TagQuery())) == {
        "tags": [{"name": "z"}]}
    tag = db.run_sync(lambda s: contents.update_tag(s, ADMIN, "N", "z", {"name": "zz"}))
    assert tag["name"] == "zz" and set(tag) == {"name", "created_at", "updated_at"}
