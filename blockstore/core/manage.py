"""Manage and unmanage (admins): bring data the backend holds but no volume or snapshot
is under the block store's management (Cinder's ``os-volume-manage`` and
``os-snapshot-manage``), or let a volume or snapshot go while its data stays.

What can be managed is what the backend lists (``list_manageable``; the file
backend: the image files in ``<volumes_dir>/manageable/``), named by its
``source-name``; the host must be this storage host's volume service or its
pool. A managed volume counts against its project's quotas from the request
on; it is ``creating`` (``managing``) until the backend has taken the data.
Unmanaging removes the volume (or snapshot) from the database once the
backend has left its data, listed again, on the storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import messages, quotas
from blockstore import models as m
from blockstore.backends import Manageable
from blockstore.core.admin import pool_name, volume_host
from blockstore.core.snapshots import get_snapshot
from blockstore.core.types import find_type
from blockstore.core.validation import check_flag, check_metadata, check_text
from blockstore.core.volumes import get_volume, touch
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller
from blockstore.state import BlockState

T = TypeVar("T")


def check_host(st: BlockState, host: Any) -> None:
    """404 unless ``host`` is this storage host's volume service or its pool."""
    bs, backend = st.cfg.blockstore, st.manager.backend.name
    if host not in (volume_host(bs.host, backend), pool_name(bs.host, backend)):
        raise NotFound(f"Service host {host!r} could not be found (this storage host is "
                       f"{volume_host(bs.host, backend)}).")


def reference(value: Any) -> str:
    """The ``source-name`` of a ``ref`` (the only reference the backends know)."""
    if not isinstance(value, dict) or not isinstance(value.get("source-name"), str) \
            or not value["source-name"]:
        raise Invalid("Invalid input received: ref must be {\"source-name\": <name>} "
                      "(source-id is not supported by this back end).")
    return str(value["source-name"])


async def manageable(st: BlockState, host: Any) -> list[Manageable]:
    check_host(st, host)
    return await st.manager.backend.list_manageable()


async def _usable(st: BlockState, name: str) -> Manageable:
    for item in await st.manager.backend.list_manageable():
        if item.name == name:
            if not item.safe:
                raise Invalid(f"Invalid input received: {name} cannot be managed: "
                              f"{item.reason}")
            return item
    raise NotFound(f"Nothing named {name} can be managed on this host.")


@dataclass(frozen=True)
class NewManaged:
    host: Any
    source: str
    name: str | None
    description: str | None
    volume_type: str | None
    metadata: dict[str, str]
    bootable: bool


def new_managed(body: dict[str, Any], cfg_zone: str) -> NewManaged:
    if "host" not in body and "cluster" not in body:
        raise Invalid("Invalid input received: host must be given.")
    az = body.get("availability_zone")
    if az is not None and az != cfg_zone:
        raise Invalid(f"Invalid input received: Availability zone '{az}' is invalid.")
    vtype = body.get("volume_type")
    if vtype is not None and not isinstance(vtype, str):
        raise Invalid("Invalid input received: volume_type must be a string.")
    return NewManaged(body.get("host"), reference(body.get("ref")), check_text(body, "name"),
                      check_text(body, "description", 65535),
                      vtype, check_metadata(body.get("metadata")),
                      check_flag(body.get("bootable", False), "bootable"))


async def manage_volume(st: BlockState, who: Caller, spec: NewManaged,
                        render: Callable[[Session, m.Volume], T]) -> T:
    check_host(st, spec.host)
    item = await _usable(st, spec.source)
    cfg = st.cfg.blockstore

    def make(s: Session) -> tuple[str, T]:
        if s.scalar(select(m.Volume.id).where(m.Volume.status == "managing",
                                              m.Volume.provider_id == spec.source)):
            raise Invalid(f"Invalid input received: {spec.source} is being managed already.")
        vtype = find_type(s, spec.volume_type, cfg.default_volume_type, who)
        quotas.check(s, cfg, who.project_id or "", quotas.Delta(
            volumes=1, gigabytes=item.size_gib, volume_type=vtype.name,
            volume_size=item.size_gib))
        now = m.utcnow()
        vol = m.Volume(id=m.new_id(), project_id=who.project_id or "", user_id=who.user_id,
                       name=spec.name, description=spec.description, size=item.size_gib,
                       status="managing", availability_zone=cfg.availability_zone,
                       bootable=spec.bootable, volume_type_id=vtype.id,
                       metadata_=spec.metadata, image_metadata={}, initiators=[],
                       provider_id=spec.source, created_at=now, updated_at=now)
        s.add(vol)
        s.flush()
        return vol.id, render(s, vol)

    vid, view = await st.db.run(make)
    manager = st.manager

    async def take() -> None:
        async with manager.lock(vid):
            await manager.backend.manage(vid, spec.source)

    event = messages.Event(who.project_id or "", messages.VOLUME, vid, "008", who.request_id)
    manager.spawn(manager.outcome(
        f"volume {vid}: manage {spec.source}", take(), event=event,
        done=lambda _: _set(st, m.Volume, vid, status="available", launched_at=m.utcnow()),
        failed=lambda err: _set(st, m.Volume, vid, status="error_managing", error=err)))
    return view


async def unmanage_volume(st: BlockState, who: Caller, vid: str) -> None:
    """Stop managing the volume: its row goes once the backend left its data."""
    def begin(s: Session) -> str:
        vol = get_volume(s, who, vid)
        if vol.status not in ("available", "error", "error_managing"):
            raise Invalid(f"Invalid volume: Volume {vid} status must be available or error "
                          f"to unmanage (it is {vol.status}).")
        if vol.group_id is not None or s.scalar(select(m.Attachment.id).where(
                m.Attachment.volume_id == vid)) is not None:
            raise Invalid(f"Invalid volume: Volume {vid} is attached or in a group.")
        if s.scalar(select(m.Snapshot.id).where(m.Snapshot.volume_id == vid)) is not None:
            raise Invalid(f"Invalid volume: Volume {vid} still has snapshots.")
        back = vol.status
        touch(vol, status="unmanaging")
        return back

    back_to = await st.db.run(begin)
    manager = st.manager

    async def leave() -> None:
        async with manager.lock(vid):
            await manager.backend.unmanage(vid)

    async def gone(_: None) -> None:
        await st.db.run(lambda s: _drop(s, m.Volume, vid))

    event = messages.Event(who.project_id or "", messages.VOLUME, vid, "006", who.request_id)
    manager.spawn(manager.outcome(
        f"volume {vid}: unmanage", leave(), done=gone, event=event,
        failed=lambda err: _set(st, m.Volume, vid, status=back_to, error=err)))


def new_managed_snapshot(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(volume id, source name, the rest) of a snapshot manage request."""
    vid = body.get("volume_id")
    if not isinstance(vid, str) or not vid:
        raise Invalid("Invalid input received: volume_id is required.")
    return vid, reference(body.get("ref")), body


async def manage_snapshot(st: BlockState, who: Caller, body: dict[str, Any],
                          render: Callable[[m.Snapshot], T]) -> T:
    vid, source, rest = new_managed_snapshot(body)
    item = await _usable(st, source)
    cfg = st.cfg.blockstore
    name, description = check_text(rest, "name"), check_text(rest, "description", 65535)
    metadata = check_metadata(rest.get("metadata"))

    def make(s: Session) -> tuple[str, T]:
        vol = get_volume(s, who, vid)
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        quotas.check(s, cfg, vol.project_id, quotas.Delta(
            snapshots=1, gigabytes=item.size_gib, volume_type=vt.name if vt else None))
        snap = m.Snapshot(id=m.new_id(), volume_id=vid, project_id=vol.project_id,
                          user_id=who.user_id, name=name, description=description,
                          size=item.size_gib, status="creating", metadata_=metadata)
        s.add(snap)
        s.flush()
        return snap.id, render(snap)

    sid, view = await st.db.run(make)
    manager = st.manager
    event = messages.Event(who.project_id or "", messages.SNAPSHOT, sid, "009",
                           who.request_id)
    manager.spawn(manager.outcome(
        f"snapshot {sid}: manage {source}", manager.backend.manage_snapshot(sid, vid, source),
        event=event,
        done=lambda _: _set(st, m.Snapshot, sid, status="available", progress="100%"),
        failed=lambda err: _set(st, m.Snapshot, sid, status="error", error=err)))
    return view


async def unmanage_snapshot(st: BlockState, who: Caller, sid: str) -> None:
    def begin(s: Session) -> None:
        snap = get_snapshot(s, who, sid)
        if snap.status not in ("available", "error"):
            raise Invalid(f"Invalid snapshot: Snapshot {sid} status must be available or "
                          f"error to unmanage (it is {snap.status}).")
        if snap.group_snapshot_id is not None:
            raise Invalid(f"Invalid snapshot: Snapshot {sid} is part of a group snapshot.")
        snap.status, snap.updated_at = "unmanaging", m.utcnow()

    await st.db.run(begin)

    async def gone(_: str) -> None:
        await st.db.run(lambda s: _drop(s, m.Snapshot, sid))

    manager = st.manager
    manager.spawn(manager.outcome(
        f"snapshot {sid}: unmanage", manager.backend.unmanage_snapshot(sid), done=gone,
        failed=lambda err: _set(st, m.Snapshot, sid, status="error", error=err)))


async def _set(st: BlockState, model: type[m.Volume] | type[m.Snapshot], ident: str,
               **fields: Any) -> None:
    def upd(s: Session) -> None:
        row = s.get(model, ident)
        assert row is None or isinstance(row, m.Volume | m.Snapshot)
        if row is not None:
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = m.utcnow()
    await st.db.run(upd)


def _drop(s: Session, model: type[m.Volume] | type[m.Snapshot], ident: str) -> None:
    row = s.get(model, ident)
    if row is not None:
        s.delete(row)
