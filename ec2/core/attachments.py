"""AttachVolume and DetachVolume: compute's volume attachments (``os-volume_attachments``),
with the caller's token, so the volume and the instance are checked by their own
services. The device is the one compute gives (``/dev/vdb``...), as the volume's
attachment shows it; the ``Device`` asked for is checked for form only.
"""

from __future__ import annotations

import re

from common.errors import BadRequest, Conflict, NotFound
from ec2.core import ids
from ec2.core.context import Body, Ctx
from ec2.core.describe import missing_as
from ec2.core.instances import ec2_state, instance_server
from ec2.core.volumes import volume_state
from ec2.core.wire import now_time
from ec2.errors import IncorrectState, InvalidParameterValue, native_message
from ec2.params import Params

_DEVICE = re.compile(r"(/dev/)?(sd|xvd|vd|hd)[a-z]{1,2}[0-9]{0,2}", re.ASCII)


async def attach_volume(ctx: Ctx, p: Params) -> Body:
    vol_ident = p.required("VolumeId")
    inst_ident = p.required("InstanceId")
    device = p.required("Device", max_len=64)
    if not _DEVICE.fullmatch(device):
        raise InvalidParameterValue(f"Value ({device}) for parameter device is invalid. "
                                    f"{device} is not a valid EBS device name.")
    vol_uuid = await ctx.resolve(ids.VOLUME, vol_ident)
    with missing_as(ids.VOLUME, vol_ident):
        vol = await ctx.volumes.show_volume(vol_uuid)
    server_uuid, server = await instance_server(ctx, inst_ident)
    state = ec2_state(server)[0]
    if state not in ("running", "stopped"):
        raise IncorrectState(f"Instance '{inst_ident}' is not 'running' or 'stopped' (it "
                             f"is {state}).", "IncorrectInstanceState")
    if volume_state(vol) != "available":
        raise IncorrectState(f"Volume '{vol_ident}' is {volume_state(vol)}: only an "
                             "available volume can be attached", "VolumeInUse"
                             if volume_state(vol) == "in-use" else "IncorrectState")
    try:
        with missing_as(ids.INSTANCE, inst_ident):
            made = await ctx.compute.attach_volume(server_uuid, vol_uuid)
    except (BadRequest, Conflict) as exc:
        raise IncorrectState(native_message(exc), "IncorrectState") from None
    return {"volumeId": vol_ident, "instanceId": inst_ident,
            "device": made.get("device"), "status": "attaching", "attachTime": now_time(),
            "deleteOnTermination": False}


async def detach_volume(ctx: Ctx, p: Params) -> Body:
    vol_ident = p.required("VolumeId")
    vol_uuid = await ctx.resolve(ids.VOLUME, vol_ident)
    with missing_as(ids.VOLUME, vol_ident):
        vol = await ctx.volumes.show_volume(vol_uuid)
    attached = vol.get("attachments") or []
    if not attached:
        raise IncorrectState(f"Volume '{vol_ident}' is in the '{volume_state(vol)}' state.",
                             "IncorrectState")
    server_uuid = str(attached[0].get("server_id"))
    if inst_ident := p.text("InstanceId"):
        wanted = await ctx.resolve(ids.INSTANCE, inst_ident)
        if wanted not in {str(a.get("server_id")) for a in attached}:
            raise IncorrectState(f"Volume '{vol_ident}' is not attached to instance "
                                 f"'{inst_ident}'.", "IncorrectState")
        server_uuid = wanted
    inst_ident = inst_ident or await ctx.id_of(ids.INSTANCE, server_uuid)
    device = next((a.get("device") for a in attached
                   if str(a.get("server_id")) == server_uuid), None)
    try:
        await ctx.compute.detach_volume(server_uuid, vol_uuid)
    except NotFound:
        raise IncorrectState(f"Volume '{vol_ident}' is not attached to instance "
                             f"'{inst_ident}'.", "IncorrectState") from None
    except (BadRequest, Conflict) as exc:
        raise IncorrectState(native_message(exc), "IncorrectState") from None
    return {"volumeId": vol_ident, "instanceId": inst_ident, "device": device,
            "status": "detaching", "attachTime": now_time(), "deleteOnTermination": False}


ACTIONS = {"AttachVolume": attach_volume, "DetachVolume": detach_volume}
