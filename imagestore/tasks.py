"""Tasks: the record of an asynchronous job, as Glance's task API shows it.

An interoperable import (``glance-direct``, ``web-download``) creates one
task of type ``api_image_import`` when it starts; the job moves it from
``processing`` to ``success`` or ``failure`` with a ``message`` that says
why (the inspector's or qemu-img's reason for a refused image), and sets
``expires_at`` then (``TIME_TO_LIVE`` later, as Glance's default).
``GET /v2/images/{id}/tasks`` (API 2.12) lists an image's tasks, so
``glance image-tasks`` shows why an import failed.

The table (``models.Task``) has what ``POST /v2/tasks`` and ``GET
/v2/tasks[/{id}]`` need as well: a type, an owner, input and result as
JSON, and an image id that may be empty.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imagestore import core
from imagestore import models as m
from imagestore.errors import Forbidden
from imagestore.policy import Caller

IMPORT_TYPE = "api_image_import"
TIME_TO_LIVE = timedelta(hours=48)
MAX_MESSAGE = 2048  # characters of a failure message kept


def create(s: Session, caller: Caller, *, type: str, task_input: dict[str, Any],
           image_id: str | None, request_id: str | None, status: str = "processing") -> str:
    """Insert a task; its id."""
    now = m.utcnow()
    task = m.Task(id=str(uuid.uuid4()), type=type, status=status, owner=caller.project_id,
                  user_id=caller.user_id, request_id=request_id, image_id=image_id,
                  input=json.dumps(task_input), message="", created_at=now, updated_at=now)
    s.add(task)
    return task.id


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


def view(task: m.Task) -> dict[str, Any]:
    """A task as Glance shows it (with the 2.12 fields for an image's tasks)."""
    return {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "input": json.loads(task.input or "{}"),
        "result": json.loads(task.result) if task.result else None,
        "message": task.message, "image_id": task.image_id, "user_id": task.user_id,
        "request_id": task.request_id,
        "expires_at": core.iso(task.expires_at) if task.expires_at else None,
        "created_at": core.iso(task.created_at), "updated_at": core.iso(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }


def image_tasks(s: Session, caller: Caller, image_id: str) -> dict[str, Any]:
    """``GET /v2/images/{id}/tasks``: the image's unexpired tasks, oldest first."""
    img = core.get_image(s, caller, image_id)  # 404 unless the caller may see the image
    if not (caller.is_admin or caller.owns(img)):
        raise Forbidden("Only the image's owner may see its tasks.")
    now = m.utcnow()
    rows = s.scalars(select(m.Task).where(m.Task.image_id == image_id)
                     .order_by(m.Task.created_at, m.Task.id))
    return {"tasks": [view(t) for t in rows if t.expires_at is None or t.expires_at > now]}
