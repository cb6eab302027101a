"""Volumes and snapshots: the block store's, with the caller's token.

``vol-``/``snap-`` ids name the block store's UUIDs; a volume made here is the
one ``openstack volume list`` shows, and one made there is described here.
"""

from __future__ import annotations

from typing import Any

from common.errors import BadRequest
from ec2.core import describe, filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, Seen, limit_as, missing_as
from ec2.core.wire import aws_time
from ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    native_message,
)
from ec2.params import Params

MAX_SIZE = 16384  # GiB, EC2's largest volume
DEFAULT_TYPE = "__DEFAULT__"

# The block store's volume states in EC2's (creating | available | in-use | deleting |
# deleted | error); a volume with attachments is in use whatever it is doing.
_STATES = {
    "creating": "creating", "downloading": "creating", "restoring-backup": "creating",
    "managing": "creating", "available": "available", "reserved": "available",
    "extending": "available", "backing-up": "available", "uploading": "available",
    "retyping": "available", "maintenance": "available", "attaching": "in-use",
    "in-use": "in-use", "detaching": "in-use", "deleting": "deleting",
    "awaiting-transfer": "available",
}
_ATTACHMENT = {"attaching": "attaching", "detaching": "detaching"}
_SNAPSHOT_STATES = {"creating": "pending", "available": "completed", "deleting": "pending",
                    "backing-up": "completed", "restoring": "pending", "unmanaging": "pending"}

VOLUME_FILTERS = (
    "attachment.attach-time", "attachment.delete-on-termination", "attachment.device",
    "attachment.instance-id", "attachment.status", "availability-zone", "create-time",
    "encrypted", "multi-attach-enabled", "size", "snapshot-id", "status", "volume-id",
    "volume-type")
SNAPSHOT_FILTERS = (
    "description", "encrypted", "owner-alias", "owner-id", "progress", "snapshot-id",
    "start-time", "status", "volume-id", "volume-size")


def volume_state(vol: dict[str, Any]) -> str:
    status = str(vol.get("status", ""))
    if status.startswith("error"):
        return "error"
    state = _STATES.get(status, "available")
    if vol.get("attachments") and state == "available":
        return "in-use"
    return state


def volume_type(vol: dict[str, Any]) -> str:
    native = vol.get("volume_type")
    return "standard" if not native or native == DEFAULT_TYPE else str(native)


def _volume_item(vol: dict[str, Any], seen: Seen) -> Item:
    ident = seen.id(ids.VOLUME, vol["id"]) or ""
    status = volume_state(vol)
    attach_state = _ATTACHMENT.get(str(vol.get("status")), "attached")
    attachments = [{
        "volumeId": ident, "instanceId": seen.id(ids.INSTANCE, a.get("server_id")),
        "device": a.get("device"), "status": attach_state,
        "attachTime": aws_time(a.get("attached_at")), "deleteOnTermination": False,
    } for a in vol.get("attachments") or []]
    item_tags = seen.tags_of(ident)
    view = {
        "volumeId": ident, "size": vol.get("size"),
        "snapshotId": seen.id(ids.SNAPSHOT, vol.get("snapshot_id")) or "",
        "availabilityZone": vol.get("availability_zone"), "status": status,
        "createTime": aws_time(vol.get("created_at")), "attachmentSet": attachments,
        "tagSet": tags.tag_set(item_tags), "volumeType": volume_type(vol),
        "encrypted": bool(vol.get("encrypted")),
        "multiAttachEnabled": bool(vol.get("multiattach")),
    }
    fields = {
        "volume-id": ident, "size": vol.get("size"), "status": status,
        "availability-zone": vol.get("availability_zone"),
        "create-time": view["createTime"], "snapshot-id": view["snapshotId"],
        "volume-type": view["volumeType"], "encrypted": view["encrypted"],
        "multi-attach-enabled": view["multiAttachEnabled"],
        "attachment.instance-id": [a["instanceId"] for a in attachments],
        "attachment.device": [a["device"] for a in attachments],
        "attachment.status": [a["status"] for a in attachments],
        "attachment.attach-time": [a["attachTime"] for a in attachments],
        "attachment.delete-on-termination": [False for _ in attachments],
    }
    return Item(ident, view, fields, item_tags)


async def _see_volumes(ctx: Ctx, volumes: list[dict[str, Any]],
                       complete: bool = False) -> Seen:
    return await describe.see(ctx, {
        ids.VOLUME: {v["id"]: "vol" for v in volumes},
        ids.SNAPSHOT: {v["snapshot_id"]: "snap" for v in volumes if v.get("snapshot_id")},
        ids.INSTANCE: {a["server_id"]: "i" for v in volumes
                       for a in v.get("attachments") or [] if a.get("server_id")},
    }, tagged=[ids.VOLUME], complete=ids.VOLUME if complete else None)


async def volume_view(ctx: Ctx, vol: dict[str, Any]) -> dict[str, Any]:
    """One volume as EC2 shows it."""
    return _volume_item(vol, await _see_volumes(ctx, [vol])).view


async def describe_volumes(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.VOLUME.check(v) for v in p.strings("VolumeId")]
    found = filters.parse(p, VOLUME_FILTERS)
    page = paging.parse(p, high=500, ids_param="VolumeId")
    volumes = await ctx.volumes.list_volumes()
    seen = await _see_volumes(ctx, volumes, complete=True)
    items = [_volume_item(v, seen) for v in volumes]
    return describe.answer(items, "volumeSet", kind=ids.VOLUME, wanted=wanted, found=found,
                           page=page)


async def create_volume(ctx: Ctx, p: Params) -> Body:
    size = p.integer("Size", low=1, high=MAX_SIZE)
    snap_ident = p.text("SnapshotId")
    if size is None and snap_ident is None:
        raise MissingParameter("The request must contain the parameter size or snapshotId")
    zone = p.text("AvailabilityZone") or ctx.settings.zone
    vtype = p.text("VolumeType")
    if p.boolean("Encrypted"):
        raise InvalidParameterValue("Encrypted volumes are not offered by this cloud.")
    if p.boolean("MultiAttachEnabled"):
        raise InvalidParameterValue("Multi-attach volumes are not offered by this cloud.")
    pairs = tags.specifications(p, "volume")
    snapshot_id = None
    if snap_ident is not None:
        snapshot_id = await ctx.resolve(ids.SNAPSHOT, snap_ident)
        with missing_as(ids.SNAPSHOT, snap_ident):
            snap = await ctx.volumes.show_snapshot(snapshot_id)
        size = size or int(snap.get("size") or 1)
    assert size is not None
    native_type = None if vtype in (None, "", "standard") else vtype
    with limit_as("VolumeLimitExceeded"):
        vol = await ctx.volumes.create_volume(size, snapshot_id=snapshot_id,
                                              availability_zone=zone,
                                              volume_type=native_type)
    ident = await ctx.id_of(ids.VOLUME, vol["id"])
    if pairs:
        await ctx.run(lambda s: tags.put(s, ctx.project, ident, "volume", pairs))
    view = await volume_view(ctx, vol)
    view.pop("attachmentSet", None)
    return view


async def delete_volume(ctx: Ctx, p: Params) -> Body:
    ident = p.required("VolumeId")
    uuid = await ctx.resolve(ids.VOLUME, ident)
    with missing_as(ids.VOLUME, ident):
        vol = await ctx.volumes.show_volume(uuid)
        if volume_state(vol) == "in-use":
            raise IncorrectState(f"Volume {ident} is currently attached to an instance",
                                 "VolumeInUse")
        try:
            await ctx.volumes.delete_volume(uuid)
        except BadRequest as exc:
            raise IncorrectState(f"Volume {ident} cannot be deleted now: "
                                 f"{native_message(exc)}", "IncorrectState") from exc
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True}


# -- snapshots ----------------------------------------------------------------------------


def _snapshot_item(snap: dict[str, Any], seen: Seen, owner: str) -> Item:
    ident = seen.id(ids.SNAPSHOT, snap["id"]) or ""
    status = str(snap.get("status", ""))
    state = "error" if status.startswith("error") else _SNAPSHOT_STATES.get(status, "pending")
    progress = str(snap.get("os-extended-snapshot-attributes:progress") or
                   ("100%" if state == "completed" else "0%"))
    item_tags = seen.tags_of(ident)
    view = {
        "snapshotId": ident, "volumeId": seen.id(ids.VOLUME, snap.get("volume_id")) or "",
        "status": state, "startTime": aws_time(snap.get("created_at")),
        "progress": progress, "ownerId": owner, "volumeSize": snap.get("size"),
        "description": snap.get("description") or "", "encrypted": False,
        "tagSet": tags.tag_set(item_tags), "storageTier": "standard",
    }
    fields = {
        "snapshot-id": ident, "volume-id": view["volumeId"], "status": state,
        "start-time": view["startTime"], "progress": progress, "owner-id": owner,
        "volume-size": view["volumeSize"], "description": view["description"],
        "encrypted": False, "owner-alias": "",
    }
    return Item(ident, view, fields, item_tags)


async def _see_snapshots(ctx: Ctx, snaps: list[dict[str, Any]],
                         complete: bool = False) -> Seen:
    return await describe.see(ctx, {
        ids.SNAPSHOT: {s["id"]: "snap" for s in snaps},
        ids.VOLUME: {s["volume_id"]: "vol" for s in snaps if s.get("volume_id")},
    }, tagged=[ids.SNAPSHOT], complete=ids.SNAPSHOT if complete else None)


async def describe_snapshots(ctx: Ctx, p: Params) -> Body:
    wanted = [ids.SNAPSHOT.check(v) for v in p.strings("SnapshotId")]
    owners = p.strings("Owner")
    found = filters.parse(p, SNAPSHOT_FILTERS)
    page = paging.parse(p, ids_param="SnapshotId")
    if p.strings("RestorableBy") and not wanted:
        raise InvalidParameterCombination("RestorableBy is not offered: snapshots here are "
                                          "never shared with other projects.")
    snaps = await ctx.volumes.list_snapshots()
    complete = not owners or bool({"self", ctx.project} & set(owners))
    if not complete:
        snaps = []  # snapshots are never shared: only the project's own are ever seen
    seen = await _see_snapshots(ctx, snaps, complete)
    items = [_snapshot_item(s, seen, ctx.project) for s in snaps]
    return describe.answer(items, "snapshotSet", kind=ids.SNAPSHOT, wanted=wanted,
                           found=found, page=page)


async def create_snapshot(ctx: Ctx, p: Params) -> Body:
    vol_ident = p.required("VolumeId")
    description = p.text("Description", max_len=255)
    pairs = tags.specifications(p, "snapshot")
    uuid = await ctx.resolve(ids.VOLUME, vol_ident)
    with missing_as(ids.VOLUME, vol_ident):
        vol = await ctx.volumes.show_volume(uuid)
    if volume_state(vol) not in ("available", "in-use"):
        raise IncorrectState(f"Volume {vol_ident} is {volume_state(vol)}: only an available "
                             "or in-use volume can be snapshotted", "IncorrectState")
    with limit_as("SnapshotLimitExceeded"):
        snap = await ctx.volumes.create_snapshot(uuid, description=description, force=True)
    seen = await _see_snapshots(ctx, [snap])
    ident = seen.id(ids.SNAPSHOT, snap["id"]) or ""
    if pairs:
        await ctx.run(lambda s: tags.put(s, ctx.project, ident, "snapshot", pairs))
        seen.tags[ident] = dict(pairs)
    return _snapshot_item(snap, seen, ctx.project).view


async def delete_snapshot(ctx: Ctx, p: Params) -> Body:
    ident = p.required("SnapshotId")
    uuid = await ctx.resolve(ids.SNAPSHOT, ident)
    with missing_as(ids.SNAPSHOT, ident):
        try:
            await ctx.volumes.delete_snapshot(uuid)
        except BadRequest as exc:
            raise IncorrectState(f"Snapshot {ident} cannot be deleted now: "
                                 f"{native_message(exc)}", "InvalidSnapshot.InUse") from exc
    await ctx.run(lambda s: tags.forget(s, [ident]))
    return {"return": True}


ACTIONS = {
    "DescribeVolumes": describe_volumes, "CreateVolume": create_volume,
    "DeleteVolume": delete_volume, "DescribeSnapshots": describe_snapshots,
    "CreateSnapshot": create_snapshot, "DeleteSnapshot": delete_snapshot,
}
