"""Tasks: the record of an asynchronous job, as Glance's task API shows it.

Two kinds are made here:

* ``api_image_import``: an interoperable import (``glance-direct``,
  ``web-download``) records one when it starts (``processing``);
* ``import``: ``POST /v2/tasks`` (API 2.2, admins only by Glance's default
  policy) with ``input`` ``{"import_from": <URI>, "import_from_format":
  <disk format>, "image_properties": {...}}``: a new image is made from the
  URI (:func:`imagestore.imports.run_import_task`), the task is ``pending``
  until its job starts.

A job moves its task to ``success`` (``result`` ``{"image_id": ...}``) or
``failure`` with a ``message`` that says why (the inspector's or qemu-img's
reason, a missing input field, a source the cloud does not allow), and sets
``expires_at`` then (``TIME_TO_LIVE`` later, as Glance's default); listings
leave expired tasks out.

Three views, each with the fields Glance gives that call: the task
(``GET /v2/tasks/{id}``, ``POST``), its stub in ``GET /v2/tasks`` (no input,
result or message) and the database form ``GET /v2/images/{id}/tasks``
(API 2.12) returns.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from imagestore import core, paging
from imagestore import models as m
from imagestore.errors import Forbidden, Invalid, NotFound
from imagestore.policy import Caller
from imagestore.schemas import TASK_STATUSES, TASK_TYPES, UUID_PATTERN

IMPORT_TYPE = "api_image_import"
TASK_IMPORT = "import"  # the type POST /v2/tasks makes
TIME_TO_LIVE = timedelta(hours=48)
MAX_MESSAGE = 2048  # characters of a failure message kept
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("created_at", "updated_at", "expires_at", "status", "type", "id", "owner")
IMPORT_INPUT = ("import_from", "import_from_format", "image_properties")
# How a NULL sorts (coalesced, so that ORDER BY and the keyset agree): first ascending.
NULL_AS: dict[str, Any] = {"expires_at": datetime(1970, 1, 1), "owner": ""}


def create(s: Session, caller: Caller, *, type: str, task_input: dict[str, Any],
           image_id: str | None, request_id: str | None, status: str = "processing") -> str:
    """Insert a task; its id."""
    now = m.utcnow()
    task = m.Task(id=str(uuid.uuid4()), type=type, status=status, owner=caller.project_id,
                  user_id=caller.user_id, request_id=request_id, image_id=image_id,
                  input=json.dumps(task_input), message="", created_at=now, updated_at=now)
    s.add(task)
    return task.id


def check_access(caller: Caller) -> None:
    """Glance's ``tasks_api_access``: the task API is for admins."""
    if not caller.is_admin:
        raise Forbidden("You are not authorized to complete tasks_api_access action.")


def new_task(s: Session, caller: Caller, body: Any, request_id: str | None) -> m.Task:
    """``POST /v2/tasks``: a ``pending`` task of type ``import`` (its input is
    checked by the job, which fails the task with the reason, as Glance does)."""
    check_access(caller)
    if not isinstance(body, dict):
        raise Invalid("Request body must be a JSON object.")
    for key in ("type", "input"):
        if key not in body:
            raise Invalid(f"Task '{key}' is required")
    extra = sorted(set(body) - {"type", "input"})
    if extra:
        raise Invalid(f"Provided object does not match schema 'task': additional "
                      f"properties are not allowed ({', '.join(extra)}).")
    if body["type"] not in TASK_TYPES:
        raise Invalid(f"Provided object does not match schema 'task': {body['type']!r} "
                      f"is not one of {list(TASK_TYPES)}")
    if body["type"] != TASK_IMPORT:
        raise Invalid(f"Tasks of type {body['type']} are made by the image service "
                      "itself; POST /v2/tasks makes 'import' tasks.")
    if not isinstance(body["input"], dict):
        raise Invalid("Provided object does not match schema 'task': input: "
                      f"{body['input']!r} is not of type 'object'")
    task_id = create(s, caller, type=TASK_IMPORT, task_input=body["input"], image_id=None,
                     request_id=request_id, status="pending")
    s.flush()
    return get(s, caller, task_id)


def start(s: Session, task_id: str) -> bool:
    """A job picked up its task: ``pending`` -> ``processing``."""
    task = s.get(m.Task, task_id)
    if task is None or task.status != "pending":
        return False
    task.status = "processing"
    task.updated_at = m.utcnow()
    return True


def attach_image(s: Session, task_id: str, image_id: str) -> None:
    task = s.get(m.Task, task_id)
    if task is not None:
        task.image_id = image_id


def finish(s: Session, task_id: str, *, ok: bool, message: str = "",
           result: dict[str, Any] | None = None) -> None:
    """End a task: ``success`` with ``result``, or ``failure`` with ``message``."""
    task = s.get(m.Task, task_id)
    if task is None:
        return
    now = m.utcnow()
    task.status = "success" if ok else "failure"
    task.message = message[:MAX_MESSAGE]
    task.result = json.dumps(result) if result is not None else None
    task.updated_at = now
    task.expires_at = now + TIME_TO_LIVE


# -- views -------------------------------------------------------------------------------


def _input(task: m.Task) -> Any:
    return json.loads(task.input) if task.input else None


def view(task: m.Task) -> dict[str, Any]:
    """A task as ``GET /v2/tasks/{id}`` shows it: optional fields only when set."""
    out: dict[str, Any] = {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "input": _input(task), "result": json.loads(task.result) if task.result else None,
        "message": task.message,
        "created_at": core.iso(task.created_at), "updated_at": core.iso(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
    for key in ("image_id", "request_id", "user_id"):
        if getattr(task, key):
            out[key] = getattr(task, key)
    if task.expires_at:
        out["expires_at"] = core.iso(task.expires_at)
    return out


def stub(task: m.Task) -> dict[str, Any]:
    """A task in ``GET /v2/tasks``: no input, result or message."""
    out: dict[str, Any] = {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "created_at": core.iso(task.created_at), "updated_at": core.iso(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
    if task.expires_at:
        out["expires_at"] = core.iso(task.expires_at)
    return out


def _db_time(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f") if t else None


def record(task: m.Task) -> dict[str, Any]:
    """A task as ``GET /v2/images/{id}/tasks`` gives it: Glance's database record
    (every column, ``null`` when empty, and the soft-delete pair)."""
    return {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "expires_at": _db_time(task.expires_at), "created_at": _db_time(task.created_at),
        "updated_at": _db_time(task.updated_at), "deleted_at": None, "deleted": False,
        "image_id": task.image_id, "request_id": task.request_id, "user_id": task.user_id,
        "input": _input(task), "result": json.loads(task.result) if task.result else None,
        "message": task.message,
    }


# -- reading -----------------------------------------------------------------------------


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(m.Task.expires_at.is_(None), m.Task.expires_at > now)


def _visible(caller: Caller, task: m.Task) -> bool:
    return caller.is_admin or task.owner is None or task.owner == caller.project_id


def get(s: Session, caller: Caller, task_id: str) -> m.Task:
    check_access(caller)
    task = s.get(m.Task, task_id)
    if task is None or not _visible(caller, task) or (
            task.expires_at is not None and task.expires_at <= m.utcnow()):
        raise NotFound(f"Task with the given id {task_id} not found")
    return task


def image_tasks(s: Session, caller: Caller, image_id: str) -> dict[str, Any]:
    """``GET /v2/images/{id}/tasks``: the image's unexpired tasks the caller may see
    (its own project's; all for admins), oldest first; 404 unless the image is
    visible."""
    core.get_image(s, caller, image_id)
    rows = s.scalars(select(m.Task).where(m.Task.image_id == image_id, _live(m.utcnow()))
                     .order_by(m.Task.created_at, m.Task.id))
    return {"tasks": [record(t) for t in rows if _visible(caller, t)]}


@dataclass
class TaskQuery:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    filters: dict[str, str] = field(default_factory=dict)


def parse_query(params: Sequence[tuple[str, str]]) -> TaskQuery:
    """``GET /v2/tasks``'s query string: limit, marker, sort_key, sort_dir and the
    ``status`` and ``type`` filters (other parameters are ignored, as Glance does)."""
    q = TaskQuery()
    single = dict(params)
    if "limit" in single:
        q.limit = paging.parse_limit(single["limit"], MAX_LIMIT)
    if single.get("marker"):
        if not re.match(UUID_PATTERN, single["marker"]):
            raise Invalid("Invalid marker format")
        q.marker = single["marker"]
    q.sort_key, q.sort_dir = paging.parse_sort(single, SORT_KEYS)
    if single.get("status"):
        if single["status"] not in TASK_STATUSES:
            raise Invalid(f"Invalid status value: {single['status']}")
        q.filters["status"] = single["status"]
    if single.get("type"):
        if single["type"] not in TASK_TYPES:
            raise Invalid(f"Invalid type value: {single['type']}")
        q.filters["type"] = single["type"]
    return q


def _sort_expr(key: str) -> ColumnElement[Any]:
    col: ColumnElement[Any] = getattr(m.Task, key)
    null_as = NULL_AS.get(key)
    return col if null_as is None else func.coalesce(col, null_as)


def _sort_value(task: m.Task, key: str) -> Any:
    value = getattr(task, key)
    return NULL_AS.get(key) if value is None else value


def listing(s: Session, caller: Caller, q: TaskQuery) -> tuple[list[m.Task], bool]:
    """One page of tasks (the caller's project's; all for admins) and whether more
    follow: a stable order (``id`` breaks ties) and keyset pagination after
    ``marker``."""
    check_access(caller)
    stmt: Select[m.Task] = select(m.Task).where(_live(m.utcnow()))
    if not caller.is_admin:
        stmt = stmt.where(m.Task.owner == caller.project_id)
    for key, value in q.filters.items():
        stmt = stmt.where(getattr(m.Task, key) == value)
    expr, asc = _sort_expr(q.sort_key), q.sort_dir == "asc"
    if q.marker:
        marker = s.get(m.Task, q.marker)
        if marker is None or not _visible(caller, marker):
            raise Invalid(f"Task with the given id {q.marker} not found (marker)")
        value = _sort_value(marker, q.sort_key)
        ahead = expr > value if asc else expr < value
        tie = m.Task.id > marker.id if asc else m.Task.id < marker.id
        stmt = stmt.where(or_(ahead, and_(expr == value, tie)))
    order = [expr.asc(), m.Task.id.asc()] if asc else [expr.desc(), m.Task.id.desc()]
    rows = list(s.scalars(stmt.order_by(*order).limit(q.limit + 1)))
    return rows[:q.limit], len(rows) > q.limit


def page_links(params: Sequence[tuple[str, str]], rows: list[m.Task],
               more: bool) -> dict[str, str]:
    return paging.links("/v2/tasks", params, rows[-1].id if rows else None, more)
