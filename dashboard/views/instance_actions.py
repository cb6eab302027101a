"""The actions on an instance, from its page or a row of the list: start, stop, reboot,
pause, resume, suspend, shelve, unshelve, delete; create a snapshot (a new image,
shown on the Images page); resize to another flavor, then confirm or revert;
associate and disassociate a floating IP (the
networking API); attach and detach a volume (the compute API, from the instance's
page or the volume's). Each form names where
to go back to (``next``, a local path) and the API judges every call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dashboard.apis import Apis, q
from dashboard.views.images import LIST as IMAGES
from dashboard.views.instances import LIST
from dashboard.web import Handler, act, apis, field, form, safe_next

routes = web.RouteTableDef()
ITEM = LIST + "{server_id}/"

# form action → (the compute API's server action and its argument, what the page says)
ACTIONS: dict[str, tuple[str, Any, str]] = {
    "start": ("os-start", None, "The instance is starting."),
    "stop": ("os-stop", None, "The instance is shutting down."),
    "reboot": ("reboot", {"type": "SOFT"}, "The instance is rebooting."),
    "hard_reboot": ("reboot", {"type": "HARD"}, "The instance is being hard rebooted."),
    "pause": ("pause", None, "The instance is being paused."),
    "unpause": ("unpause", None, "The instance is resuming."),
    "suspend": ("suspend", None, "The instance is being suspended."),
    "resume": ("resume", None, "The instance is resuming."),
    "shelve": ("shelve", None, "The instance is being shelved."),
    "unshelve": ("unshelve", None, "The instance is being unshelved."),
    "confirm_resize": ("confirmResize", None, "The instance keeps its new flavor."),
    "revert_resize": ("revertResize", None, "The instance is going back to its flavor."),
}

# a call on one server: (the request's APIs, the form, the server's id)
Call = Callable[[Apis, Any, str], Awaitable[Any]]


async def on_server(request: web.Request, done: str, call: Call, *,
                    deleting: bool = False) -> web.Response:
    """Run ``call`` for the server of the path with the posted form; back to the form's
    ``next`` (else the server's page) with ``done`` or the refusal."""
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)
    back = safe_next(str(data.get("next", "")), LIST + sid)
    if deleting and back == LIST + sid:
        back = LIST  # the page of a server being deleted is about to go
    return await act(request, back, done, lambda: call(api, data, sid))


def _server_action(name: str) -> Handler:
    api_action, args, done = ACTIONS[name]

    async def call(api: Apis, data: Any, sid: str) -> None:
        await api.compute.action(sid, api_action, args)

    async def handler(request: web.Request) -> web.Response:
        return await on_server(request, done, call)

    return handler


for _name in ACTIONS:
    routes.post(ITEM + _name)(_server_action(_name))


@routes.post(ITEM + "delete")
async def delete(request: web.Request) -> web.Response:
    async def call(api: Apis, data: Any, sid: str) -> None:
        await api.compute.delete_server(sid)

    return await on_server(request, "The instance is being deleted.", call, deleting=True)


@routes.post(ITEM + "snapshot")
async def snapshot(request: web.Request) -> web.Response:
    """``createImage``; on to the Images page, where the new image is being saved."""
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)
    name = str(data.get("name", "")).strip()

    async def work() -> None:
        await api.compute.create_image(sid, field(data, "name", label="Snapshot name"))

    return await act(request, IMAGES, f"Snapshot {name} is being created.", work,
                     failed=LIST + sid)


@routes.post(ITEM + "resize")
async def resize(request: web.Request) -> web.Response:
    async def call(api: Apis, data: Any, sid: str) -> None:
        await api.compute.action(sid, "resize",
                                 {"flavorRef": field(data, "flavor", label="The new flavor")})

    return await on_server(request, "The instance is being resized: confirm or revert the "
                                    "resize once it is done.", call)


@routes.post(ITEM + "floating_ip/associate")
async def associate(request: web.Request) -> web.Response:
    async def call(api: Apis, data: Any, sid: str) -> None:
        port = field(data, "port_id", label="The port to be associated")
        choice = field(data, "floating_ip", label="The floating IP")
        if choice.startswith("pool:"):  # a new one from that pool, straight to the port
            await api.network.post("/floatingips", {"floatingip": {
                "floating_network_id": choice.removeprefix("pool:"), "port_id": port}})
        else:
            await api.network.put(f"/floatingips/{q(choice)}",
                                  {"floatingip": {"port_id": port}})

    return await on_server(request, "The floating IP was associated.", call)


@routes.post(ITEM + "floating_ip/disassociate")
async def disassociate(request: web.Request) -> web.Response:
    async def call(api: Apis, data: Any, sid: str) -> None:
        fid = field(data, "floating_ip_id", label="The floating IP")
        await api.network.put(f"/floatingips/{q(fid)}", {"floatingip": {"port_id": None}})

    return await on_server(request, "The floating IP was disassociated.", call)


@routes.post(ITEM + "volumes/attach")
async def attach(request: web.Request) -> web.Response:
    async def call(api: Apis, data: Any, sid: str) -> None:
        await api.compute.attach_volume(sid, field(data, "volume_id", label="The volume"),
                                        field(data, "device", required=False) or None)

    return await on_server(request, "The volume is being attached.", call)


@routes.post(ITEM + "volumes/{volume_id}/detach")
async def detach(request: web.Request) -> web.Response:
    volume_id = request.match_info["volume_id"]

    async def call(api: Apis, data: Any, sid: str) -> None:
        await api.compute.detach_volume(sid, volume_id)

    return await on_server(request, "The volume is being detached.", call)


@routes.post("/project/volumes/{volume_id}/attach")
async def attach_from_volume(request: web.Request) -> web.Response:
    """The volume's page names the instance (the compute API attaches volumes)."""
    data = await form(request)
    api = apis(request)
    vid = request.match_info["volume_id"]

    async def work() -> None:
        await api.compute.attach_volume(field(data, "server_id", label="The instance"), vid)

    return await act(request, f"/project/volumes/{vid}", "The volume is being attached.",
                     work)
