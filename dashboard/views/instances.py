"""Project → Compute → Instances: the list (refreshing itself while an instance is being
built or changes state), an instance's page (overview, console log, the noVNC
console in a frame, action log), the
Launch Instance form; and Admin → Instances, every project's. Every call is the
user's own token on the compute, image, block store and networking APIs.

The actions on an instance (start, stop, floating IPs, volumes, ...) are in
:mod:`dashboard.views.instance_actions`."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from common.errors import BadRequest, StrataError
from dashboard.apis import Apis
from dashboard.usage import duration
from dashboard.views.admin import project_names
from dashboard.views.networks import listing
from dashboard.views.volumes import list_volumes
from dashboard.web import (
    CSP,
    CSRF_FIELD,
    SESSION,
    act,
    apis,
    attempt,
    checkbox,
    field,
    form,
    int_field,
    is_htmx,
    render,
)

routes = web.RouteTableDef()
LIST = "/project/instances/"
LAUNCH = LIST + "launch"
ADMIN_LIST = "/admin/instances/"
TABS = (("overview", "Overview"), ("log", "Log"), ("console", "Console"),
        ("actions", "Action Log"))
CONSOLE_LINES = 200  # the console log tab's default tail

# Nova's power_state numbers, as the guide's list shows them.
POWER = {0: "No State", 1: "Running", 3: "Paused", 4: "Shut Down", 6: "Crashed",
         7: "Suspended"}
# Statuses that change by themselves (a task under way does too); VERIFY_RESIZE waits
# for the user's confirm or revert.
SETTLING = frozenset({"BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE",
                      "REVERT_RESIZE", "MIGRATING", "PASSWORD"})


def age(created: object, now: datetime | None = None) -> str:
    """How long ago ``created`` (ISO 8601) was, as the list shows it: "3 minutes"."""
    try:
        stamp = datetime.fromisoformat(str(created))
    except ValueError:
        return ""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return duration(((now or datetime.now(UTC)) - stamp).total_seconds())


def addresses(server: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(network, address, "fixed" or "floating") of each of a server's addresses."""
    out = []
    for net, items in sorted((server.get("addresses") or {}).items()):
        for a in items:
            out.append((net, str(a.get("addr", "")), str(a.get("OS-EXT-IPS:type", "fixed"))))
    return out


def settling(server: dict[str, Any]) -> bool:
    return str(server.get("status", "")).upper() in SETTLING or \
        bool(server.get("OS-EXT-STS:task_state"))


def row(server: dict[str, Any], image_names: dict[str, str]) -> dict[str, Any]:
    """What the lists and the overview show of a server (compute's field names are
    not all valid template names)."""
    image = server.get("image") or {}
    image_id = image.get("id", "") if isinstance(image, dict) else ""
    flavor = server.get("flavor") or {}
    power = server.get("OS-EXT-STS:power_state")
    return {
        "id": server["id"], "name": server.get("name") or "", "status": server.get("status"),
        "image_id": image_id,
        "image": image_names.get(image_id, image_id) if image_id else "(booted from volume)",
        "addresses": addresses(server),
        "flavor": flavor.get("original_name") or flavor.get("id") or "",
        "key_name": server.get("key_name") or "",
        "task": server.get("OS-EXT-STS:task_state") or "",
        "power": POWER.get(power, str(power)) if power is not None else "",
        "age": age(server.get("created")), "created": server.get("created"),
        "project_id": server.get("tenant_id", ""), "host": server.get("OS-EXT-SRV-ATTR:host"),
        "settling": settling(server),
        "volumes": [v["id"] for v in server.get("os-extended-volumes:volumes_attached", [])],
        "fault": (server.get("fault") or {}).get("message", ""),
    }


async def _empty() -> list[Any]:
    return []


async def _none_doc() -> dict[str, Any]:
    return {}


async def _image_names(api: Apis) -> dict[str, str]:
    if not api.has("image"):
        return {}
    return {i["id"]: i.get("name") or i["id"] for i in await api.images.list()}


async def _rows(api: Apis, servers: Any) -> tuple[list[dict[str, Any]], str]:
    (items, error), (names, _) = await asyncio.gather(attempt(servers, []),
                                                      attempt(_image_names(api), {}))
    return [row(s, names or {}) for s in items or []], error


@routes.get(LIST)
async def index(request: web.Request) -> web.Response:
    api = apis(request)
    servers, error = await _rows(api, api.compute.list_servers())
    template = "compute/_instances.html" if is_htmx(request) else "compute/instances.html"
    return render(request, template, title="Instances", servers=servers, error=error,
                  refresh=LIST, admin=False)


@routes.get(ADMIN_LIST)
async def admin_index(request: web.Request) -> web.Response:
    api = apis(request)
    (servers, error), (names, _) = await asyncio.gather(
        _rows(api, api.compute.list_all_servers()), attempt(project_names(api), {}))
    template = "compute/_instances.html" if is_htmx(request) else "admin/instances.html"
    return render(request, template, title="All Instances", servers=servers, error=error,
                  refresh=ADMIN_LIST, admin=True, names=names or {})


# -- launch ------------------------------------------------------------------------------

KEPT = "launch_form"  # session.extra: a refused launch form's values, to fill it again


@dataclass(frozen=True)
class Kept:
    """The values of a launch form the API (or we) refused, so the form comes back as
    it was sent; empty on a first visit (then each field has its default)."""

    values: dict[str, list[str]] = dc_field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.values)

    def value(self, name: str, default: str = "") -> str:
        given = self.values.get(name)
        return given[0] if given else (default if not self else "")

    def chosen(self, name: str, value: str, default: bool = False) -> bool:
        """Is ``value`` among the values sent for ``name`` (a checkbox or a list)?"""
        return value in self.values.get(name, []) if self else default


def launch_body(data: MultiDictProxy[Any]) -> dict[str, Any]:
    """The compute API's ``server`` for the Launch Instance form."""
    body: dict[str, Any] = {"name": field(data, "name", label="Instance name"),
                            "flavorRef": field(data, "flavor", label="Flavor")}
    count = int_field(data, "count", label="Count", minimum=1, required=False, default=1)
    if count > 1:
        body["min_count"] = body["max_count"] = count
    source = field(data, "source", required=False, default="image")
    delete = checkbox(data, "delete_on_termination")
    if source == "image":
        image = field(data, "image_id", label="The source image")
        if checkbox(data, "new_volume"):
            body["block_device_mapping_v2"] = [{
                "boot_index": 0, "uuid": image, "source_type": "image",
                "destination_type": "volume", "delete_on_termination": delete,
                "volume_size": int_field(data, "volume_size", label="Volume size (GiB)",
                                         minimum=1)}]
        else:
            body["imageRef"] = image
    elif source in ("volume", "snapshot"):
        body["block_device_mapping_v2"] = [{
            "boot_index": 0, "uuid": field(data, f"{source}_id", label=f"The source {source}"),
            "source_type": source, "destination_type": "volume",
            "delete_on_termination": delete}]
    else:
        raise BadRequest(f"Unknown boot source {source!r}.")
    networks = [n for n in data.getall("network", []) if n]
    if networks:
        body["networks"] = [{"uuid": n} for n in networks]
    groups = [g for g in data.getall("security_group", []) if g]
    if groups:
        body["security_groups"] = [{"name": g} for g in groups]
    key = field(data, "key_name", required=False)
    if key:
        body["key_name"] = key
    script = str(data.get("user_data", ""))
    if script.strip():
        body["user_data"] = base64.b64encode(script.replace("\r\n", "\n").encode()).decode()
    if checkbox(data, "config_drive"):
        body["config_drive"] = True
    description = field(data, "description", required=False)
    if description:
        body["description"] = description
    return body


@routes.get(LAUNCH)
async def launch_form(request: web.Request) -> web.Response:
    api = apis(request)
    net, vol = api.has("network"), api.has("volumev3") or api.has("block-storage")
    (images, _), (flavors, error), (keys, _), (nets, _), (groups, _), (vols, _), \
        (snaps, _) = await asyncio.gather(
            attempt(api.images.list(status="active") if api.has("image") else _empty(), []),
            attempt(api.compute.list_flavors(), []),
            attempt(api.compute.list_keypairs(), []),
            attempt(listing(api, "networks") if net else _empty(), []),
            attempt(listing(api, "security-groups", project_id=request[SESSION].project.id)
                    if net else _empty(), []),
            attempt(list_volumes(api) if vol else _empty(), []),
            attempt(api.volume.get("/snapshots/detail") if vol else _none_doc(), {}))
    usable = [n for n in nets if not n.get("router:external")]
    kept = Kept(request[SESSION].extra.pop(KEPT, {}))
    return render(
        request, "compute/launch.html", title="Launch Instance", error=error,
        # kernels and ramdisks boot nothing by themselves: not offered as a source
        images=[i for i in images if i.get("disk_format") not in ("aki", "ari")],
        flavors=sorted(flavors, key=lambda f: (f.get("ram", 0), f["name"])),
        keypairs=keys, networks=usable, groups=groups,
        volumes=[v for v in vols if v.get("status") == "available"
                 and str(v.get("bootable")) == "true"],
        snapshots=[s for s in (snaps or {}).get("snapshots", [])
                   if s.get("status") == "available"],
        image_id=request.query.get("image_id", ""), kept=kept)


@routes.post(LAUNCH)
async def launch(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    name = str(data.get("name", "")).strip()
    session = request[SESSION]

    async def work() -> None:
        try:
            await api.compute.create_servers(launch_body(data))
        except StrataError:
            session.extra[KEPT] = {k: [str(v) for v in data.getall(k)]
                                   for k in set(data) if k != CSRF_FIELD}
            raise

    return await act(request, LIST, f"Instance {name} is being launched.", work,
                     failed=LAUNCH)


# -- an instance's page -------------------------------------------------------------------


@routes.get(LIST + "{server_id}")
async def detail(request: web.Request) -> web.Response:
    api = apis(request)
    sid = request.match_info["server_id"]
    tab = request.query.get("tab", "overview")
    if tab not in dict(TABS):
        tab = "overview"
    server = await api.compute.show_server(sid)
    ctx: dict[str, Any] = {"tab": tab, "tabs": TABS, "raw": server}
    if tab == "log":
        lines = int_field(request.query, "lines", label="Lines", minimum=1, required=False,
                          default=CONSOLE_LINES)
        ctx["lines"] = lines
        ctx["console"], ctx["error"] = await attempt(api.compute.console_output(sid, lines),
                                                     "")
    elif tab == "actions":
        ctx["actions"], ctx["error"] = await attempt(api.compute.list_actions(sid), [])
    elif tab == "console":
        ctx["console_url"], ctx["error"] = await attempt(api.compute.novnc_url(sid), "")
    else:
        ctx.update(await _overview(api, server))
    names, _ = await attempt(_image_names(api), {})  # else the image's id
    item = row(server, names or {})
    response = render(request, "compute/instance.html",
                      title=f"Instance {item['name'] or sid}", server=item, **ctx)
    if ctx.get("console_url"):
        response.headers["Content-Security-Policy"] = framing(ctx["console_url"])
    return response


def framing(url: str) -> str:
    """The pages' policy, letting the console tab frame the console proxy's page."""
    parts = urlsplit(url)
    return f"{CSP}; frame-src {parts.scheme}://{parts.netloc}"


async def _overview(api: Apis, server: dict[str, Any]) -> dict[str, Any]:
    """What the overview tab offers beyond the server: its ports, the floating IPs it
    may take, the volumes it may attach, the flavors it may be resized to."""
    sid = server["id"]
    net = api.has("network")
    (ports, _), (fips, _), (pools, _), (vols, _), (flavors, _) = await asyncio.gather(
        attempt(listing(api, "ports", device_id=sid) if net else _empty(), []),
        attempt(listing(api, "floatingips") if net else _empty(), []),
        attempt(listing(api, "networks", **{"router:external": "true"}) if net
                else _empty(), []),
        attempt(list_volumes(api) if api.has("volumev3") or api.has("block-storage")
                else _empty(), []),
        attempt(api.compute.list_flavors(), []))
    current = (server.get("flavor") or {}).get("original_name")
    port_ids = {p["id"] for p in ports}
    return {
        "ports": ports,
        "floating": [f for f in fips if f.get("port_id") in port_ids],
        "free_fips": [f for f in fips if not f.get("port_id")],
        "pools": pools,
        "attachable": [v for v in vols if v.get("status") == "available"],
        "attached": [v for v in vols if any(a.get("server_id") == sid
                                            for a in v.get("attachments", []))],
        "groups": [g.get("name") for g in server.get("security_groups", [])],
        "config_drive": bool(server.get("config_drive")),
        # Resize Instance offers the other flavors
        "flavors": sorted((f for f in flavors if f.get("name") != current),
                          key=lambda f: (f.get("ram", 0), f["name"])),
    }

