"""Volume rules: lookups, create (blank or from a snapshot, a volume, an image or a
backup), update, metadata, delete, extend, status changes, upload to an image.

The functions on a ``Session`` check and record a change in one transaction;
the ``async`` ones are whole operations (a transaction, a call to the image
service, the volume manager's slow part started) taking the block store's
state. A ``render`` argument turns the row into the API's view inside the
same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.core.types import find_type
from blockstore.core.validation import check_flag, check_metadata, check_text, parse_size
from blockstore.errors import Forbidden, Invalid, NotFound, Unavailable
from blockstore.manager import ImageRef
from blockstore.policy import Caller, check_visible
from blockstore.state import BlockState
from common.config import BlockStoreConfig
from common.httpclient import RemoteError, RemoteForbidden, RemoteNotFound
from imagestore.client import ImageClient

T = TypeVar("T")
GIB = 1 << 30

STATUSES = ("creating", "available", "reserved", "attaching", "in-use", "detaching",
            "extending", "deleting", "error", "error_deleting", "error_extending",
            "awaiting-transfer", "maintenance", "backing-up", "restoring-backup",
            "error_restoring", "uploading")
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
UPLOAD_FORMATS = ("raw", "qcow2")
VISIBILITIES = ("public", "private", "shared", "community")


def get_volume(s: Session, who: Caller, volume_id: str) -> m.Volume:
    vol = s.get(m.Volume, volume_id)
    check_visible(who, vol.project_id if vol else None, "Volume", volume_id)
    assert vol is not None
    return vol


def need_status(vol: m.Volume, *statuses: str, action: str) -> None:
    if vol.status not in statuses:
        raise Invalid(f"Invalid volume: Volume {vol.id} status must be "
                      f"{' or '.join(statuses)} to {action}, but current status is: "
                      f"{vol.status}.")


def touch(row: m.Volume | m.Snapshot | m.Backup, **fields: Any) -> None:
    """Set ``fields`` on a row and stamp its ``updated_at``."""
    for key, value in fields.items():
        setattr(row, key, value)
    row.updated_at = m.utcnow()


# -- create ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NewVolume:
    """A create request, its values checked (the sources are looked up later)."""

    name: str | None
    description: str | None
    metadata: dict[str, str]
    size: Any  # None: the source's size
    volume_type: Any
    snapshot_id: Any
    source_volid: Any
    image_ref: str | None
    backup_id: str | None
    bootable: Any
    group_id: str | None = None


def new_volume(body: dict[str, Any], cfg: BlockStoreConfig, *, from_backup: bool,
               backups_enabled: bool, in_group: bool = False) -> NewVolume:
    """The create request ``body`` checked. ``from_backup``: the API version allows
    ``backup_id``; ``backups_enabled``: there is an object store to restore from;
    ``in_group``: the API version (3.13+) takes ``group_id``."""
    name = check_text(body, "name") or check_text(body, "display_name")
    description = check_text(body, "description", 65535) or check_text(
        body, "display_description", 65535)
    metadata = check_metadata(body.get("metadata"))
    az = body.get("availability_zone")
    if az is not None and az != cfg.availability_zone:
        raise Invalid(f"Invalid input received: Availability zone '{az}' is invalid.")
    snapshot_id = body.get("snapshot_id")
    source_volid = body.get("source_volid")
    image_ref = body.get("imageRef") or body.get("image_id")
    backup_id = body.get("backup_id")
    if sum(x is not None for x in (snapshot_id, source_volid, image_ref, backup_id)) > 1:
        raise Invalid("Invalid input received: only one of snapshot_id, source_volid, "
                      "imageRef and backup_id may be given.")
    if backup_id is not None:
        if not from_backup:
            raise Invalid("Invalid input received: creating a volume from a backup "
                          "(backup_id) needs microversion 3.47 or later.")
        if not isinstance(backup_id, str):
            raise Invalid("Invalid input received: backup_id must be a string.")
        if not backups_enabled:
            raise Unavailable("Service cinder-backup could not be found: the block store "
                              "has no object store to keep backups in.")
    if image_ref is not None and not isinstance(image_ref, str):
        raise Invalid("Invalid input received: imageRef must be a string.")
    group_id = body.get("group_id") if in_group else None
    if group_id is not None and not isinstance(group_id, str):
        raise Invalid("Invalid input received: group_id must be a string.")
    return NewVolume(name, description, metadata, body.get("size"), body.get("volume_type"),
                     snapshot_id, source_volid, image_ref, backup_id, body.get("bootable"),
                     group_id)


async def usable_image(images: ImageClient, image_id: str) -> dict[str, Any]:
    """The image as the caller sees it in the image service (400 when it cannot be used)."""
    try:
        image = await images.show(image_id)
    except RemoteNotFound:
        raise Invalid(f"Invalid image identifier or unable to access requested "
                      f"image {image_id}.") from None
    except RemoteError as exc:
        if exc.answered is None:
            raise Unavailable(f"The image service is unreachable: {exc.message}") from None
        raise Unavailable(f"The image service answered {exc.answered} for image "
                          f"{image_id}.") from None
    if image.get("status") != "active":
        raise Invalid(f"Image {image_id} is not active.")
    return image


IMAGE_KEYS = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")
IMAGE_SKIP = {"id", "name", "status", "visibility", "protected", "os_hidden", "owner",
              "tags", "created_at", "updated_at", "self", "file", "schema", "virtual_size",
              "locations", "direct_url", "stores", "os_hash_algo", "os_hash_value",
              *IMAGE_KEYS}


def image_metadata(image: dict[str, Any]) -> dict[str, str]:
    """What a volume made from ``image`` shows as its ``volume_image_metadata``."""
    meta = {"image_id": str(image["id"]), "image_name": str(image.get("name") or "")}
    for key in IMAGE_KEYS:
        if image.get(key) is not None:
            meta[key] = str(image[key])
    for key, value in image.items():
        if key not in IMAGE_SKIP and isinstance(value, str | int | float | bool):
            meta[key] = str(value)
    return meta


def _at_least(size: int | None, source_size: int, source: str) -> int:
    """The new volume's size: as asked, else the source's; never smaller than it."""
    size = size or source_size
    if size < source_size:
        raise Invalid(f"Invalid input received: Volume size '{size}'GB cannot be smaller "
                      f"than the {source} size {source_size}GB.")
    return size


def add_volume(s: Session, who: Caller, cfg: BlockStoreConfig, spec: NewVolume,
               image: dict[str, Any] | None) -> m.Volume:
    """The new volume's row (``creating``, or ``restoring-backup`` from a backup), its
    sources checked and its quota taken."""
    snapshot_id, source_volid, backup_id = spec.snapshot_id, spec.source_volid, spec.backup_id
    size = None if spec.size is None and (snapshot_id or source_volid or backup_id) \
        else parse_size(spec.size)
    vtype_ref = spec.volume_type
    snap = src = bk = None
    if backup_id is not None:
        bk = s.get(m.Backup, backup_id)
        check_visible(who, bk.project_id if bk else None, "Backup", backup_id)
        assert bk is not None
        if bk.status != "available":
            raise Invalid(f"Invalid backup: Backup status must be available (backup "
                          f"{backup_id} is {bk.status}).")
        size = _at_least(size, bk.size, "backup")
    if snapshot_id is not None:
        snap = s.get(m.Snapshot, str(snapshot_id))
        check_visible(who, snap.project_id if snap else None, "Snapshot", str(snapshot_id))
        assert snap is not None
        if snap.status != "available":
            raise Invalid(f"Invalid snapshot: Originating snapshot status must be one of "
                          f"'available' values (it is {snap.status}).")
        size = _at_least(size, snap.size, "snapshot")
        origin = s.get(m.Volume, snap.volume_id)
        if vtype_ref is None and origin is not None:
            vtype_ref = origin.volume_type_id
    if source_volid is not None:
        src = get_volume(s, who, str(source_volid))
        if src.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Source volume status must be available or "
                          f"in-use (it is {src.status}).")
        size = _at_least(size, src.size, "source volume")
        if vtype_ref is None:
            vtype_ref = src.volume_type_id
    assert size is not None
    if image is not None:
        need = max(int(image.get("min_disk") or 0),
                   -(-int(image.get("virtual_size") or image.get("size") or 0) // GIB))
        if size < need:
            raise Invalid(f"Invalid input received: Volume size {size}GB cannot be "
                          f"smaller than the image minDisk size {need}GB.")
    vtype = find_type(s, vtype_ref, cfg.default_volume_type, who)
    if spec.group_id is not None:
        grp = s.get(m.Group, spec.group_id)
        check_visible(who, grp.project_id if grp else None, "Group", spec.group_id)
        assert grp is not None
        if grp.status not in ("available", "in-use"):
            raise Invalid(f"Invalid group: Group {grp.id} status must be available or "
                          f"in-use (it is {grp.status}).")
        if vtype.id not in grp.volume_type_ids:
            raise Invalid(f"Invalid input received: volume type {vtype.name} is not one "
                          f"of group {grp.id}'s volume types.")
    quotas.check(s, cfg, who.project_id or "", quotas.Delta(
        volumes=1, gigabytes=size, volume_type=vtype.name, volume_size=size))
    vol = m.Volume(
        id=m.new_id(), project_id=who.project_id or "", user_id=who.user_id, name=spec.name,
        description=spec.description, size=size, status="creating",
        availability_zone=cfg.availability_zone,
        bootable=bool(image) or bool(snap and (o := s.get(m.Volume, snap.volume_id))
                                     and o.bootable) or bool(src and src.bootable),
        volume_type_id=vtype.id, snapshot_id=snap.id if snap else None,
        source_volid=src.id if src else None, image_id=image["id"] if image else None,
        metadata_=spec.metadata, initiators=[],
        image_metadata=image_metadata(image) if image else (
            dict(src.image_metadata) if src else {}), group_id=spec.group_id)
    if isinstance(spec.bootable, bool):
        vol.bootable = spec.bootable
    if bk is not None:  # the backup is written into the new volume, as a restore does
        vol.status = "restoring-backup"
        bk.status, bk.updated_at = "restoring", m.utcnow()
    s.add(vol)
    s.flush()
    return vol


async def create(st: BlockState, who: Caller, spec: NewVolume,
                 render: Callable[[Session, m.Volume], T]) -> T:
    """Create a volume: its image looked up (with the caller's token), its row made,
    then the manager fills it (blank, a copy of its source, the image, the backup)."""
    images = st.images(who.token)
    image = await usable_image(images, spec.image_ref) if spec.image_ref is not None \
        else None
    vid, view = await st.db.run(lambda s: _made(s, render, add_volume(
        s, who, st.cfg.blockstore, spec, image)))
    manager = st.manager
    if spec.backup_id is not None:
        manager.spawn(manager.restore_backup(spec.backup_id, vid, new=True,
                                             request_id=who.request_id))
    else:
        source = None if image is None else ImageRef(
            images, str(image["id"]), str(image.get("disk_format") or "raw"))
        manager.spawn(manager.create_volume(vid, source, request_id=who.request_id))
    return view


def _made(s: Session, render: Callable[[Session, m.Volume], T],
          vol: m.Volume) -> tuple[str, T]:
    return vol.id, render(s, vol)


# -- update, metadata ---------------------------------------------------------------

UPDATABLE = {"name", "description", "metadata", "display_name", "display_description"}


def check_update(body: dict[str, Any]) -> None:
    if not body or set(body) - UPDATABLE:
        raise Invalid(f"Invalid input received: only {', '.join(sorted(UPDATABLE))} may be "
                      "updated.")


def apply_text_changes(row: m.Volume | m.Snapshot | m.Backup, body: dict[str, Any], *,
                       name_keys: tuple[str, ...] = ("name", "display_name"),
                       description_keys: tuple[str, ...] = ("description",
                                                            "display_description"),
                       description_limit: int = 65535) -> None:
    """Set the name, description and metadata ``body`` gives (each under the first of
    its keys the body has), then ``updated_at``."""
    name_key = next((k for k in name_keys if k in body), None)
    if name_key is not None:
        row.name = check_text(body, name_key)
    desc_key = next((k for k in description_keys if k in body), None)
    if desc_key is not None:
        row.description = check_text(body, desc_key, description_limit)
    if "metadata" in body:
        row.metadata_ = check_metadata(body["metadata"])
    row.updated_at = m.utcnow()


def update(s: Session, who: Caller, vid: str, body: dict[str, Any]) -> m.Volume:
    vol = get_volume(s, who, vid)
    apply_text_changes(vol, body)
    return vol


def set_metadata(row: m.Volume | m.Snapshot, meta: dict[str, str], *,
                 replace: bool) -> dict[str, str]:
    """Merge ``meta`` into a volume's or snapshot's metadata (``replace``: instead)."""
    row.metadata_ = meta if replace else {**(row.metadata_ or {}), **meta}
    return dict(row.metadata_)


def metadata_item(row: m.Volume | m.Snapshot, key: str) -> dict[str, str]:
    meta = dict(row.metadata_ or {})
    if key not in meta:
        raise NotFound(f"{type(row).__name__} {row.id} has no metadata with key {key}.")
    return {key: meta[key]}


def delete_metadata(row: m.Volume | m.Snapshot, key: str) -> None:
    meta = dict(row.metadata_ or {})
    metadata_item(row, key)
    del meta[key]
    row.metadata_ = meta


# -- delete -------------------------------------------------------------------------


def begin_delete(s: Session, who: Caller, vid: str, *, cascade: bool, force: bool) -> None:
    """Mark the volume (and, with ``cascade``, its snapshots) ``deleting``; ``force``
    (admins) skips every check."""
    vol = get_volume(s, who, vid)
    if not force:
        if vol.group_id is not None:
            raise Invalid(f"Invalid volume: Volume {vid} belongs to group {vol.group_id}; "
                          "remove it from the group, or delete the group with its "
                          "volumes.")
        if vol.status not in DELETABLE:
            raise Invalid(f"Invalid volume: Volume status must be available or error or "
                          f"error_restoring or error_extending or error_managing and must "
                          f"not be migrating, attached, belong to a group, have snapshots, "
                          f"awaiting a transfer, or be disassociated from snapshots after "
                          f"volume transfer (volume {vid} is {vol.status}).")
        live = s.scalar(select(m.Attachment.id).where(m.Attachment.volume_id == vid))
        if live is not None:
            raise Invalid(f"Invalid volume: Volume {vid} is attached.")
        snaps = list(s.scalars(select(m.Snapshot).where(m.Snapshot.volume_id == vid)))
        if snaps and not cascade:
            raise Invalid(f"Invalid volume: Volume {vid} still has dependent snapshots.")
        if any(sn.status not in ("available", "error") for sn in snaps):
            raise Invalid(f"Invalid volume: Volume {vid} has snapshots that are busy.")
        for sn in snaps:
            sn.status = "deleting"
    touch(vol, status="deleting")


async def delete(st: BlockState, who: Caller, vid: str, *, cascade: bool,
                 force: bool) -> None:
    if force and not who.is_admin:
        raise Forbidden("Policy doesn't allow volume:force_delete to be performed.")
    await st.db.run(lambda s: begin_delete(s, who, vid, cascade=cascade, force=force))
    st.manager.spawn(st.manager.delete_volume(vid, cascade=cascade or force,
                                              request_id=who.request_id))


async def force_delete(st: BlockState, who: Caller, vid: str) -> None:
    """Delete whatever the volume's state, its attachments and snapshots with it."""
    def begin(s: Session) -> None:
        for att in s.scalars(select(m.Attachment).where(m.Attachment.volume_id == vid)):
            s.delete(att)
        begin_delete(s, who, vid, cascade=True, force=True)

    await st.db.run(begin)
    st.manager.spawn(st.manager.delete_volume(vid, cascade=True, request_id=who.request_id))


# -- extend, flags, statuses ----------------------------------------------------------


async def extend(st: BlockState, who: Caller, vid: str, new_size: int, *,
                 in_use_ok: bool) -> None:
    """Grow the volume to ``new_size`` GiB (``in_use_ok``: also while attached)."""
    def begin(s: Session) -> str:
        vol = get_volume(s, who, vid)
        statuses = ("available", "in-use") if in_use_ok else ("available",)
        need_status(vol, *statuses, action="extend")
        if new_size <= vol.size:
            raise Invalid(f"Invalid input received: New size for extend must be greater than "
                          f"current size. (current: {vol.size}, extended: {new_size}).")
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        quotas.check(s, st.cfg.blockstore, vol.project_id, quotas.Delta(
            gigabytes=new_size - vol.size, volume_type=vt.name if vt else None,
            volume_size=new_size))
        back = vol.status
        vol.status = "extending"
        return back

    back_to = await st.db.run(begin)
    st.manager.spawn(st.manager.extend_volume(vid, new_size, back_to,
                                              request_id=who.request_id))


def set_bootable(s: Session, who: Caller, vid: str, bootable: bool) -> None:
    touch(get_volume(s, who, vid), bootable=bootable)


def set_readonly(s: Session, who: Caller, vid: str, readonly: bool) -> None:
    vol = get_volume(s, who, vid)
    vol.metadata_ = {**(vol.metadata_ or {}), "readonly": str(readonly)}


def check_reset(status: Any, attach_status: Any) -> None:
    if status is not None and status not in STATUSES:
        raise Invalid(f"Invalid input received: Invalid status: {status!r}.")
    if attach_status is not None and attach_status not in ("attached", "detached"):
        raise Invalid(f"Invalid input received: Invalid attach status: {attach_status!r}.")
    if status is None and attach_status is None:
        raise Invalid("Invalid input received: Must specify 'status' or 'attach_status'.")


def reset_status(s: Session, who: Caller, vid: str, status: str | None,
                 attach_status: str | None) -> None:
    vol = get_volume(s, who, vid)
    if status is not None:
        vol.status = status
    if attach_status is not None:
        vol.attach_status = attach_status
    vol.updated_at = m.utcnow()


# -- upload to an image ---------------------------------------------------------------


@dataclass(frozen=True)
class NewImage:
    """An ``os-volume_upload_image`` request, checked: the image to make."""

    fields: dict[str, Any]  # name, disk_format, container_format[, visibility, protected]
    force: bool

    @property
    def disk_format(self) -> str:
        return str(self.fields["disk_format"])


def new_image(args: dict[str, Any], *, with_visibility: bool) -> NewImage:
    """The upload request ``args`` checked (``with_visibility``: the API version takes
    ``visibility`` and ``protected``)."""
    image_name = args.get("image_name")
    if not isinstance(image_name, str) or not 0 < len(image_name) <= 255:
        raise Invalid("Invalid input received: image_name must be a string of 1-255 "
                      "characters.")
    disk_format = args.get("disk_format", "raw")
    if disk_format not in UPLOAD_FORMATS:
        raise Invalid(f"Invalid input received: disk_format {disk_format!r} is not supported "
                      f"(one of {', '.join(UPLOAD_FORMATS)}).")
    container_format = args.get("container_format", "bare")
    if container_format != "bare":
        raise Invalid(f"Invalid input received: container_format {container_format!r} is not "
                      "supported (bare).")
    force = check_flag(args.get("force", False), "force", default=None)
    fields: dict[str, Any] = {"name": image_name, "disk_format": disk_format,
                              "container_format": container_format}
    if with_visibility:
        visibility = args.get("visibility")
        if visibility is not None:
            if visibility not in VISIBILITIES:
                raise Invalid(f"Invalid input received: Invalid visibility {visibility!r}.")
            fields["visibility"] = visibility
        if args.get("protected") is not None:
            fields["protected"] = check_flag(args.get("protected"), "protected")
    return NewImage(fields, force)


async def create_image(images: ImageClient, fields: dict[str, Any]) -> str:
    """A queued image made in the image service (the caller's refusals passed on)."""
    try:
        image = await images.create(fields)
    except RemoteForbidden as exc:
        raise Forbidden(f"The image service refused to create the image: "
                        f"{exc.body[:300]}") from None
    except RemoteError as exc:
        if exc.answered is not None and 400 <= exc.answered < 500:
            raise Invalid(f"Invalid input received: the image service refused the image "
                          f"({exc.answered}): {exc.body[:300]}") from None
        if exc.answered is None:
            raise Unavailable(f"The image service is unreachable: {exc.message}") from None
        raise Unavailable(f"The image service answered {exc.answered} to an image "
                          "create.") from None
    return str(image["id"])


async def upload_to_image(st: BlockState, who: Caller, vid: str, req: NewImage,
                          render: Callable[[Session, m.Volume, str], T]) -> T:
    """Start copying the volume into a new image of the caller's; the view ``render``
    makes of the volume and the image's id. The volume is ``uploading`` meanwhile."""
    def begin(s: Session) -> str:
        vol = get_volume(s, who, vid)
        if vol.status == "in-use" and not req.force:
            raise Invalid(f"Invalid volume: Volume {vid} status must be available to upload "
                          "to an image (in-use needs force).")
        need_status(vol, "available", "in-use", action="upload to an image")
        back = vol.status
        touch(vol, status="uploading")
        return back

    back_to = await st.db.run(begin)

    def undo(s: Session) -> None:
        vol = s.get(m.Volume, vid)
        if vol is not None and vol.status == "uploading":
            vol.status = back_to

    images = st.images(who.token)
    try:
        image_id = await create_image(images, req.fields)
    except BaseException:
        await st.db.run(undo)
        raise
    view = await st.db.run(lambda s: render(s, get_volume(s, who, vid), image_id))
    st.manager.spawn(st.manager.upload_to_image(
        vid, ImageRef(images, image_id, req.disk_format), back_to,
        project_id=who.project_id or "", request_id=who.request_id))
    return view
