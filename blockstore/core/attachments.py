"""Attaching volumes: the legacy actions (reserve, attach, detach, connections) and the
attachments API (3.27+).

Status machine (Cinder's): ``available`` -> ``reserved``/``attaching`` ->
``in-use`` -> ``detaching`` -> ``available``. Exports: the connector given to
``os-initialize_connection`` or to an attachment is exported to (CHAP, ACL of
its initiator) by the manager; the export goes when the last connection is
terminated or attachment deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.core.volumes import get_volume, need_status, touch
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller, check_visible
from blockstore.state import BlockState
from blockstore.targets import Connector


def parse_connector(value: Any) -> Connector:
    if not isinstance(value, dict):
        raise Invalid("Invalid input received: connector must be an object.")
    initiator = value.get("initiator")
    if initiator is not None and not isinstance(initiator, str):
        raise Invalid("Invalid input received: connector initiator must be a string.")
    ip = value.get("ip")
    return Connector(initiator=initiator or None, ip=ip if isinstance(ip, str) else None)


def live_attachments(s: Session, vid: str) -> int:
    return int(s.scalar(select(func.count(m.Attachment.id)).where(
        m.Attachment.volume_id == vid)) or 0)


def _detached(vol: m.Volume) -> None:
    touch(vol, status="available", attach_status="detached", previous_status=None)


# -- legacy actions -------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """A status change of the legacy attach flow: from ``frm`` to ``to``;
    ``remember`` keeps the status it left in ``previous_status``."""

    frm: tuple[str, ...]
    to: str
    action: str
    remember: bool = False

    def apply(self, s: Session, who: Caller, vid: str) -> None:
        vol = get_volume(s, who, vid)
        need_status(vol, *self.frm, action=self.action)
        if self.remember:
            vol.previous_status = vol.status
        touch(vol, status=self.to)


TRANSITIONS = {
    "os-reserve": Transition(("available",), "attaching", "reserve", remember=True),
    "os-unreserve": Transition(("attaching", "reserved"), "available", "unreserve"),
    "os-begin_detaching": Transition(("in-use",), "detaching", "begin detaching"),
    "os-roll_detaching": Transition(("detaching",), "in-use", "roll detaching"),
}


async def initialize_connection(st: BlockState, who: Caller, vid: str,
                                connector: Connector) -> dict[str, object]:
    """Export the volume to ``connector``; Cinder's connection info."""
    def check(s: Session) -> None:
        need_status(get_volume(s, who, vid), "available", "reserved", "attaching", "in-use",
                    "detaching", action="initialize a connection")

    await st.db.run(check)
    return await st.manager.export(vid, connector)


async def terminate_connection(st: BlockState, who: Caller, vid: str) -> None:
    await st.db.run(lambda s: get_volume(s, who, vid))
    await st.manager.unexport(vid)


def attach(s: Session, who: Caller, vid: str, *, instance: str | None, host: str | None,
           mountpoint: str | None, mode: str) -> None:
    vol = get_volume(s, who, vid)
    need_status(vol, "available", "reserved", "attaching", action="attach")
    now = m.utcnow()
    s.add(m.Attachment(volume_id=vid, project_id=vol.project_id, instance_uuid=instance,
                       attached_host=host, mountpoint=mountpoint, attach_status="attached",
                       attach_mode=mode, attach_time=now))
    vol.status, vol.attach_status, vol.previous_status = "in-use", "attached", None
    vol.updated_at = now


async def detach(st: BlockState, who: Caller, vid: str, attachment_id: str | None) -> None:
    """Remove one attachment (``attachment_id``, else the first); the export goes with
    the last one."""
    def upd(s: Session) -> bool:
        vol = get_volume(s, who, vid)
        need_status(vol, "in-use", "detaching", "attaching", "reserved", action="detach")
        stmt = select(m.Attachment).where(m.Attachment.volume_id == vid)
        if attachment_id is not None:
            stmt = stmt.where(m.Attachment.id == attachment_id)
        atts = list(s.scalars(stmt))
        if attachment_id is not None and not atts:
            raise NotFound(f"Attachment {attachment_id} could not be found.")
        for att in atts[:1] if attachment_id is None else atts:
            s.delete(att)
        s.flush()
        left = live_attachments(s, vid)
        if left == 0:
            _detached(vol)
        else:
            touch(vol, status="in-use")
        return left == 0 and vol.exported

    if await st.db.run(upd):
        await st.manager.unexport(vid)


# -- the attachments API ------------------------------------------------------------


def get_attachment(s: Session, who: Caller, att_id: str) -> m.Attachment:
    att = s.get(m.Attachment, att_id)
    check_visible(who, att.project_id if att else None, "Attachment", att_id)
    assert att is not None
    return att


async def create_attachment(st: BlockState, who: Caller, vid: str, *, instance: Any,
                            mode: str, connector: dict[str, Any] | None,
                            parsed: Connector | None) -> str:
    """Reserve the volume for an attachment (and connect it when a ``connector`` is
    given: ``parsed`` is what it says); the attachment's id."""
    def make(s: Session) -> str:
        vol = get_volume(s, who, vid)
        need_status(vol, "available", "reserved", action="create an attachment")
        att = m.Attachment(volume_id=vid, project_id=vol.project_id, instance_uuid=instance,
                           attach_status="reserved", attach_mode=mode,
                           connector=connector or None)
        s.add(att)
        touch(vol, status="attaching" if parsed else "reserved")
        s.flush()
        return att.id

    att_id = await st.db.run(make)
    if parsed is not None and connector is not None:
        await _connect(st, who, att_id, vid, parsed, connector)
    return att_id


async def connect_attachment(st: BlockState, who: Caller, att_id: str,
                             connector: Any) -> None:
    """Connect a reserved attachment: export its volume to ``connector`` (an object,
    else 400)."""
    parsed = parse_connector(connector)
    vid = await st.db.run(lambda s: get_attachment(s, who, att_id).volume_id)
    await _connect(st, who, att_id, vid, parsed, connector)


async def _connect(st: BlockState, who: Caller, att_id: str, vid: str,
                   connector: Connector, raw: dict[str, Any]) -> None:
    info = await st.manager.export(vid, connector)
    data = info.get("data")
    if isinstance(data, dict):
        data["attachment_id"] = att_id
        info["data"] = data

    def save(s: Session) -> None:
        att = get_attachment(s, who, att_id)
        att.connector, att.connection_info = raw, info
        att.attach_status = "attaching"
        att.attached_host = raw.get("host") if isinstance(raw.get("host"), str) else None
        att.mountpoint = raw.get("mountpoint") if isinstance(raw.get("mountpoint"), str) \
            else None
        vol = s.get(m.Volume, vid)
        if vol is not None and vol.status in ("reserved", "available"):
            vol.status = "attaching"

    await st.db.run(save)


def complete_attachment(s: Session, who: Caller, att_id: str) -> None:
    att = get_attachment(s, who, att_id)
    now = m.utcnow()
    att.attach_status, att.attach_time = "attached", now
    vol = s.get(m.Volume, att.volume_id)
    if vol is not None:
        vol.status, vol.attach_status, vol.previous_status = "in-use", "attached", None
        vol.updated_at = now


async def delete_attachment(st: BlockState, who: Caller, att_id: str
                            ) -> list[m.Attachment]:
    """Remove the attachment; the volume's export goes with its last one. The volume's
    attachments left."""
    def drop(s: Session) -> tuple[str, bool, list[m.Attachment]]:
        att = get_attachment(s, who, att_id)
        vid = att.volume_id
        s.delete(att)
        s.flush()
        vol = s.get(m.Volume, vid)
        left = list(s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vid)))
        if vol is not None and not left:
            _detached(vol)
        return vid, not left and vol is not None and vol.exported, left

    vid, unexport, left = await st.db.run(drop)
    if unexport:
        await st.manager.unexport(vid)
    return left


def list_attachments(s: Session, who: Caller, *, all_tenants: bool, volume_id: str | None,
                     instance_id: str | None, status: str | None = None,
                     order: list[Any] | None = None) -> list[m.Attachment]:
    stmt = select(m.Attachment).order_by(*(order or [m.Attachment.created_at]),
                                         m.Attachment.id)
    if not (who.is_admin and all_tenants):
        stmt = stmt.where(m.Attachment.project_id == (who.project_id or ""))
    if volume_id is not None:
        stmt = stmt.where(m.Attachment.volume_id == volume_id)
    if instance_id is not None:
        stmt = stmt.where(m.Attachment.instance_uuid == instance_id)
    if status is not None:
        stmt = stmt.where(m.Attachment.attach_status == status)
    return list(s.scalars(stmt))
