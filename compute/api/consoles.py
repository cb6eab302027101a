"""Remote consoles: ``POST /servers/{id}/remote-consoles`` (microversion 2.6) and the
legacy ``os-getVNCConsole`` / ``os-getSerialConsole`` actions. Each answers a URL of
the console proxy (:mod:`compute.consoleproxy`) with a one-time token bound to the
server and to where its console is on this host. Rules in :mod:`compute.core.consoles`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from compute.api.base import AGENT, Routes, json_body, json_response, run, state, version, writer
from compute.core import consoles, servers, states
from compute.errors import Conflict, InvalidInstanceState, ItemNotFound, VirtError
from compute.policy import Caller

routes = Routes()


def proxy_base(request: web.Request) -> str:
    """Where clients reach the console proxy."""
    c = state(request).cfg.compute
    if c.console_public_url:
        return c.console_public_url.rstrip("/")
    host = c.console_host
    if host in ("0.0.0.0", "::", ""):
        host = request.url.host or "127.0.0.1"
    return f"http://{host}:{c.console_port}"


async def console_url(request: web.Request, who: Caller, uuid: str, console_type: str) -> str:
    """A new console URL for the server (409 when it has no such console now)."""
    kind = consoles.SERVED[console_type]
    inst = await run(request, lambda s: servers.get(s, who, uuid))
    states.check(f"get_{kind}_console", uuid, inst.vm_state, inst.task_state, host=inst.host)
    agent = request.app.get(AGENT)
    if agent is None or agent.host != inst.host:
        raise Conflict(f"The console of instance {uuid} is on host {inst.host}, which this "
                       "API cannot reach.")
    try:
        where = await agent.console_endpoint(uuid, kind)
    except (ItemNotFound, InvalidInstanceState, VirtError):
        raise Conflict(f"Instance {uuid} is not ready") from None
    ttl = state(request).cfg.compute.console_token_ttl

    def store(s: Any) -> str:
        row = servers.get(s, who, uuid)
        return consoles.issue(s, row, console_type, address=where.host or where.path or "",
                              port=where.port, ttl=ttl)

    token = await run(request, store)
    return consoles.url(proxy_base(request), console_type, token)


@routes.post("/servers/{server_id}/remote-consoles", min_version=6)
async def remote_console(request: web.Request) -> web.Response:
    who = await writer(request, "os_compute_api:os-remote-consoles")  # not for readers
    uuid = request.match_info["server_id"]
    protocol, kind = consoles.remote_console(await json_body(request), version(request).minor)
    url = await console_url(request, who, uuid, kind)
    return json_response({"remote_console": {"protocol": protocol, "type": kind, "url": url}})


def legacy_action(action: str) -> Callable[[web.Request, Caller, str, Any],
                                           Awaitable[web.Response]]:
    """The handler of ``os-getVNCConsole`` and its kin: ``{"console": {"type", "url"}}``
    (SPICE and RDP: Nova's 400 for a console type this cloud does not serve)."""
    async def handler(request: web.Request, who: Caller, uuid: str,
                      args: Any) -> web.Response:
        await run(request, lambda s: servers.get(s, who, uuid))
        kind = consoles.legacy_console(action, args)
        url = await console_url(request, who, uuid, kind)
        return json_response({"console": {"type": kind, "url": url}})

    return handler
