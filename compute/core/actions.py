"""Instance action records (``os-instance-actions``) and the agents' task queue.

Every request that changes a server records an action (``create``, ``stop``,
``reboot``, ``attach_volume``...) with the request id, the user and the project; the
agent adds an event per step it runs (``compute_stop_instance``, ...: Nova's names)
with its result. The same transaction that sets a server's task state queues the
agent's :class:`~compute.models.Task`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compute import models as m
from compute.errors import ItemNotFound


def record(s: Session, inst: m.Instance, action: str, *, request_id: str, user_id: str,
           project_id: str, message: str | None = None) -> m.InstanceAction:
    row = m.InstanceAction(instance_uuid=inst.uuid, action=action, request_id=request_id,
                           user_id=user_id, project_id=project_id, message=message)
    s.add(row)
    s.flush()
    return row


def queue(s: Session, inst: m.Instance, op: str, *, args: Mapping[str, Any] | None = None,
          action: m.InstanceAction | None = None, host: str | None = None) -> m.Task:
    """Work for the agent of the server's host (or ``host``)."""
    task = m.Task(instance_uuid=inst.uuid, host=host or inst.host, op=op,
                  args=dict(args or {}), action_id=action.id if action else None)
    s.add(task)
    s.flush()
    return task


def event_start(s: Session, action_id: int | None, event: str, host: str) -> int | None:
    if action_id is None or s.get(m.InstanceAction, action_id) is None:
        return None
    row = m.InstanceActionEvent(action_id=action_id, event=event, host=host)
    s.add(row)
    s.flush()
    return row.id


def event_finish(s: Session, event_id: int | None, *, error: str | None = None,
                 traceback: str | None = None) -> None:
    row = s.get(m.InstanceActionEvent, event_id) if event_id is not None else None
    if row is None:
        return
    now = m.utcnow()
    row.finish_time = now
    row.result = "Error" if error else "Success"
    row.traceback = traceback
    action = s.get(m.InstanceAction, row.action_id)
    if action is not None:
        action.updated_at = now
        action.finish_time = now
        if error and not action.message:
            action.message = "Error"


def listing(s: Session, uuid: str) -> list[m.InstanceAction]:
    return list(s.scalars(select(m.InstanceAction).where(m.InstanceAction.instance_uuid == uuid)
                          .order_by(m.InstanceAction.start_time.desc(),
                                    m.InstanceAction.id.desc())))


def by_request(s: Session, uuid: str, request_id: str) -> m.InstanceAction:
    row = s.scalar(select(m.InstanceAction).where(m.InstanceAction.instance_uuid == uuid,
                                                  m.InstanceAction.request_id == request_id)
                   .order_by(m.InstanceAction.id.desc()).limit(1))
    if row is None:
        raise ItemNotFound(f"Action for request_id {request_id} on instance {uuid} not "
                           "found")
    return row
