"""Tasks on a real (SQLite) database: POST /v2/tasks's checks, the admin-only task
API, listing order, keyset pages, filters, expiry and the three views."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest

from common.db import Database
from imagestore import core, schemas, tasks
from imagestore import models as m
from imagestore.errors import Forbidden, Invalid, NotFound
from imagestore.policy import Caller

ADMIN = Caller("uz", "proj-admin", frozenset({"admin", "member", "reader"}))
A = Caller("ua", "proj-a", frozenset({"member", "reader"}))
IMPORT = {"import_from": "http://example.test/a.raw", "import_from_format": "raw",
          "image_properties": {"name": "x"}}


def test_create_checks_the_body_and_the_caller(db: Database) -> None:
    with pytest.raises(Forbidden):
        db.run_sync(lambda s: tasks.new_task(s, A, {"type": "import", "input": IMPORT}, None))
    for body in ({"input": IMPORT}, {"type": "import"}, {"type": "export", "input": {}},
                 {"type": "import", "input": "text"}, {"type": "import", "input": {},
                                                       "extra": 1},
                 {"type": "api_image_import", "input": {}}, ["import"]):
        with pytest.raises(Invalid):
            db.run_sync(lambda s, b=body: tasks.new_task(s, ADMIN, b, None))
    task = db.run_sync(lambda s: tasks.view(tasks.new_task(
        s, ADMIN, {"type": "import", "input": IMPORT}, "req-1")))
    assert task["status"] == "pending" and task["input"] == IMPORT
    assert task["owner"] == "proj-admin" and task["request_id"] == "req-1"
    assert "image_id" not in task and "expires_at" not in task and task["result"] is None
    jsonschema.validate(task, schemas.task_schema())


def test_listing_pages_filters_and_expiry(db: Database) -> None:
    ids = [db.run_sync(lambda s, i=i: tasks.create(
        s, ADMIN if i % 2 else A, type="import" if i < 4 else "api_image_import",
        task_input={"n": i}, image_id=None, request_id=None)) for i in range(7)]
    db.run_sync(lambda s: tasks.finish(s, ids[0], ok=True, result={"image_id": "i"}))
    db.run_sync(lambda s: tasks.finish(s, ids[1], ok=False, message="no"))

    def expire(s: object) -> None:
        t = s.get(m.Task, ids[1])  # type: ignore[attr-defined]
        t.expires_at = m.utcnow() - timedelta(seconds=1)

    db.run_sync(expire)
    seen: list[str] = []
    params: list[tuple[str, str]] = [("limit", "2"), ("sort_key", "id"), ("sort_dir", "asc")]
    while True:
        q = tasks.parse_query(params)
        rows, more = db.run_sync(lambda s, q=q: tasks.listing(s, ADMIN, q))
        seen += [r.id for r in rows]
        links = tasks.page_links(params, rows, more)
        if "next" not in links:
            break
        params = [*params[:3], ("marker", rows[-1].id)]
    assert seen == sorted(set(ids) - {ids[1]})  # the expired one is gone
    q = tasks.parse_query([("type", "import"), ("status", "success")])
    assert [t.id for t in db.run_sync(lambda s: tasks.listing(s, ADMIN, q))[0]] == [ids[0]]
    q = tasks.parse_query([("sort_key", "expires_at"), ("sort_dir", "desc"),
                           ("limit", "1000")])
    assert db.run_sync(lambda s: tasks.listing(s, ADMIN, q))[0][0].id == ids[0]
    with pytest.raises(NotFound):
        db.run_sync(lambda s: tasks.get(s, ADMIN, ids[1]))
    with pytest.raises(Forbidden):
        db.run_sync(lambda s: tasks.listing(s, A, tasks.TaskQuery()))
    with pytest.raises(Invalid):
        q = tasks.parse_query([("marker", "0b4a3a9e-5f2a-4b8e-9a51-3f3c2a1d9e11")])
        db.run_sync(lambda s: tasks.listing(s, ADMIN, q))
    stub = tasks.stub(db.run_sync(lambda s: tasks.get(s, ADMIN, ids[0])))
    assert set(stub) == {"id", "type", "status", "owner", "created_at", "updated_at",
                         "self", "schema", "expires_at"}
    jsonschema.validate({"tasks": [stub], "schema": "/v2/schemas/tasks", "first": "/"},
                        schemas.tasks_schema())


def test_an_images_tasks_show_the_callers_own(db: Database) -> None:
    limits = core.Limits(max_image_size=1 << 30)
    iid = db.run_sync(lambda s: core.create_image(s, A, {"visibility": "community"},
                                                  limits).id)
    mine = db.run_sync(lambda s: tasks.create(s, A, type=tasks.IMPORT_TYPE, image_id=iid,
                                              task_input={"image_id": iid}, request_id="r"))
    other = Caller("ub", "proj-b", frozenset({"member", "reader"}))
    assert db.run_sync(lambda s: tasks.image_tasks(s, other, iid)) == {"tasks": []}
    records = db.run_sync(lambda s: tasks.image_tasks(s, A, iid))["tasks"]
    assert [r["id"] for r in records] == [mine]
    assert set(records[0]) == {"id", "type", "status", "owner", "expires_at", "created_at",
                               "updated_at", "deleted_at", "deleted", "image_id",
                               "request_id", "user_id", "input", "result", "message"}
    assert json.dumps(records[0])  # plain JSON
    with pytest.raises(NotFound):
        db.run_sync(lambda s: tasks.image_tasks(s, A, "nope"))
