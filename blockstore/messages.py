"""User messages (Cinder's ``/messages``, 3.3+): what an asynchronous operation that
failed tells the project it worked for.

The API answers 202 before the slow part runs; when that part fails (a volume
from an image that cannot be read, an extend the storage has no room for, a
backup the object store refused) the volume manager records a message here
with the resource, the action, a detail saying why, and the id of the request
that started it. Messages are kept ``[blockstore] message_ttl`` seconds
(``guaranteed_until``) and pruned after that.

Event ids follow Cinder's form ``VOLUME_<resource type>_<action>_<detail>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.backends import InvalidArgument, NoSpace

VOLUME, SNAPSHOT, BACKUP, GROUP = "VOLUME", "VOLUME_SNAPSHOT", "VOLUME_BACKUP", "VOLUME_GROUP"

# what was being done (the numbers of Cinder's actions where one matches)
ACTIONS = {
    "001": "schedule allocate volume",
    "003": "copy volume to image",
    "005": "copy image to volume",
    "007": "extend volume",
    "008": "create volume from backend storage",
    "009": "snapshot create",
    "010": "snapshot delete",
    "012": "do backup",
    "013": "restore backup",
    "101": "delete volume",
    "102": "create group snapshot",
}
# why it failed
DETAILS = {
    "001": "An unknown error occurred.",
    "004": "Failed to upload the volume to the image service.",
    "007": "The image does not fit in the volume's size.",
    "020": "The storage back end has no space left.",
    "021": "The image could not be read from the image service, or is not a usable "
           "disk image.",
    "022": "The backup could not be written to, or read from, the object store.",
}
UNKNOWN = "001"


@dataclass(frozen=True)
class Event:
    """An operation that may fail: whose, on what, doing what, for which request."""

    project_id: str
    resource_type: str
    resource_uuid: str
    action: str
    request_id: str = ""


def detail_for(exc: BaseException, *, default: str = UNKNOWN) -> str:
    """The detail a failure is told with."""
    if isinstance(exc, NoSpace):
        return "020"
    if isinstance(exc, InvalidArgument) and "larger than" in str(exc):
        return "007"
    return default


def text(msg: m.Message) -> str:
    """The message as users read it: the action, then why."""
    action = ACTIONS.get(msg.action_id, "operation")
    return f"{action}: {DETAILS.get(msg.detail_id, DETAILS[UNKNOWN])}"


def record(s: Session, event: Event, detail: str, ttl: int) -> m.Message:
    """Keep a message about ``event``, which failed for ``detail``; expired ones go."""
    now = m.utcnow()
    s.execute(delete(m.Message).where(m.Message.expires_at < now))
    msg = m.Message(id=m.new_id(), project_id=event.project_id,
                    request_id=event.request_id or None, resource_type=event.resource_type,
                    resource_uuid=event.resource_uuid,
                    event_id=f"VOLUME_{event.resource_type}_{event.action}_{detail}",
                    message_level="ERROR", action_id=event.action, detail_id=detail,
                    created_at=now, expires_at=now + timedelta(seconds=ttl))
    s.add(msg)
    return msg
