"""The actions on an instance, from its page or a row of the list: start, stop, reboot,
pause, resume, delete; associate and disassociate a floating IP (the networking API);
attach and detach a volume (the compute API). Each form names where to go back to
(``next``, a local path) and the API judges every call."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dashboard.apis import q
from dashboard.views.instances import LIST
from dashboard.web import Handler, act, apis, field, form, safe_next

routes = web.RouteTableDef()
ITEM = LIST + "{server_id}/"

# form action → (the compute API's server action and its argument, what the page says)
ACTIONS: dict[str, tuple[str, Any, str]] = {
    "start": ("os-start", None, "is starting"),
    "stop": ("os-stop", None, "is shutting down"),
    "reboot": ("reboot", {"type": "SOFT"}, "is rebooting"),
    "hard_reboot": ("reboot", {"type": "HARD"}, "is being hard rebooted"),
    "pause": ("pause", None, "is being paused"),
    "unpause": ("unpause", None, "is resuming"),
    "suspend": ("suspend", None, "is being suspended"),
    "resume": ("resume", None, "is resuming"),
}


def _back(data: Any, sid: str) -> str:
    return safe_next(str(data.get("next", "")), LIST + sid)


def _server_action(name: str) -> Handler:
    api_action, args, done = ACTIONS[name]

    async def handler(request: web.Request) -> web.Response:
        data = await form(request)
        sid = request.match_info["server_id"]
        api = apis(request)

        async def work() -> None:
            await api.compute.action(sid, api_action, args)

        return await act(request, _back(data, sid), f"The instance {done}.", work)

    return handler


for _name in ACTIONS:
    routes.post(ITEM + _name)(_server_action(_name))


@routes.post(ITEM + "delete")
async def delete(request: web.Request) -> web.Response:
    sid = request.match_info["server_id"]
    data = await form(request)
    api = apis(request)
    back = _back(data, sid)

    async def work() -> None:
        await api.compute.delete_server(sid)

    # the instance's own page is about to go: back to the list that had it
    return await act(request, LIST if back == LIST + sid else back,
                     "The instance is being deleted.", work)


@routes.post(ITEM + "floating_ip/associate")
async def associate(request: web.Request) -> web.Response:
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)

    async def work() -> None:
        port = field(data, "port_id", label="The port to be associated")
        choice = field(data, "floating_ip", label="The floating IP")
        if choice.startswith("pool:"):  # a new one from that pool, straight to the port
            await api.network.post("/floatingips", {"floatingip": {
                "floating_network_id": choice.removeprefix("pool:"), "port_id": port}})
        else:
            await api.network.put(f"/floatingips/{q(choice)}",
                                  {"floatingip": {"port_id": port}})

    return await act(request, _back(data, sid), "The floating IP was associated.", work)


@routes.post(ITEM + "floating_ip/disassociate")
async def disassociate(request: web.Request) -> web.Response:
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)

    async def work() -> None:
        fid = field(data, "floating_ip_id", label="The floating IP")
        await api.network.put(f"/floatingips/{q(fid)}", {"floatingip": {"port_id": None}})

    return await act(request, _back(data, sid), "The floating IP was disassociated.", work)


@routes.post(ITEM + "volumes/attach")
async def attach(request: web.Request) -> web.Response:
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)

    async def work() -> None:
        await api.compute.attach_volume(sid, field(data, "volume_id", label="The volume"),
                                        field(data, "device", required=False) or None)

    return await act(request, _back(data, sid), "The volume is being attached.", work)


@routes.post(ITEM + "volumes/{volume_id}/detach")
async def detach(request: web.Request) -> web.Response:
    data = await form(request)
    sid = request.match_info["server_id"]
    api = apis(request)

    async def work() -> None:
        await api.compute.detach_volume(sid, request.match_info["volume_id"])

    return await act(request, _back(data, sid), "The volume is being detached.", work)
