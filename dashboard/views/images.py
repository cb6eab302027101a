"""Project → Images: the list, create from a file (streamed to the image service, with
a progress bar) or from a URL (web-download, where the image service offers it),
edit (name, visibility, protected), members of shared images, delete."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from common.errors import BadRequest, StrataError
from dashboard.apis import Apis, q
from dashboard.uploads import read_upload
from dashboard.web import (
    SESSION,
    Denied,
    act,
    apis,
    attempt,
    checkbox,
    field,
    form,
    is_htmx,
    redirect,
    render,
    upload_handler,
)

routes = web.RouteTableDef()
LIST = "/project/images/"
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ploop", "ami", "ari",
                "aki")
VISIBILITIES = ("private", "shared", "community", "public")


async def import_methods(api: Apis) -> list[str]:
    doc = await api.image_json.get("/info/import")
    methods: list[str] = doc.get("import-methods", {}).get("value", [])
    return methods


@routes.get(LIST)
async def index(request: web.Request) -> web.Response:
    api = apis(request)
    (images, error), (methods, _), (offered, _) = await asyncio.gather(
        attempt(api.images.list(), []), attempt(import_methods(api), []),
        attempt(api.images.list(visibility="shared", member_status="pending"), []))
    images.sort(key=lambda i: (str(i.get("name") or "").lower(), i["id"]))
    template = "images/_table.html" if is_htmx(request) else "images/index.html"
    return render(request, template, title="Images", images=images, error=error,
                  offered=offered,
                  web_download="web-download" in (methods or []), disk_formats=DISK_FORMATS,
                  visibilities=_visibilities(request))


def _visibilities(request: web.Request) -> list[str]:
    admin = request[SESSION].is_admin
    return [v for v in VISIBILITIES if v != "public" or admin]


def _image_fields(fields: dict[str, str] | Any) -> dict[str, Any]:
    name = str(fields.get("name", "")).strip()
    if not name:
        raise BadRequest("Image name is required.")
    disk_format = str(fields.get("disk_format", "raw"))
    if disk_format not in DISK_FORMATS:
        raise BadRequest(f"Disk format {disk_format} is not one the image service knows.")
    container = {"ami": "ami", "ari": "ari", "aki": "aki"}.get(disk_format, "bare")
    body: dict[str, Any] = {
        "name": name, "disk_format": disk_format, "container_format": container,
        "visibility": str(fields.get("visibility", "private")),
        "protected": fields.get("protected") in ("on", "true"),
    }
    for key in ("min_disk", "min_ram"):
        text = str(fields.get(key, "")).strip()
        if text:
            if not text.isdigit():
                raise BadRequest(f"{key.replace('_', ' ').capitalize()} must be a whole "
                                 "number.")
            body[key] = int(text)
    return body


@routes.post(LIST + "create")
@upload_handler
async def create(request: web.Request) -> web.Response:
    """Fields first, then the file: the image is made, then its bytes streamed to the
    image service as they arrive. A failed upload deletes the image it made."""
    session = request[SESSION]
    api = apis(request)
    upload = await read_upload(request)
    try:
        body = _image_fields(upload.fields)
        source = upload.fields.get("source", "file")
        url = upload.fields.get("url", "").strip()
        if source == "url" and not url:
            raise BadRequest("Give the URL to import the image from.")
        if source != "url" and (upload.file is None or not upload.filename):
            raise BadRequest("Choose a file to upload.")
    except BadRequest as exc:
        session.flash("error", exc.message)
        return redirect(request, LIST)

    async def work() -> None:
        image = await api.images.create(body)
        try:
            if source == "url":
                await api.image_json.post(f"/images/{q(image['id'])}/import",
                                          {"method": {"name": "web-download", "uri": url}})
            else:
                await api.images.upload(image["id"], upload.chunks())
        except BaseException:
            await asyncio.shield(_forget(api, image["id"]))
            raise

    done = (f"Image {body['name']} is being imported from the URL." if source == "url"
            else f"Image {body['name']} was uploaded.")
    return await act(request, LIST, done, work)


async def _forget(api: Apis, image_id: str) -> None:
    with contextlib.suppress(StrataError):  # best effort: the upload's error is what matters
        await api.images.delete(image_id)


@routes.get(LIST + "{image_id}")
async def detail(request: web.Request) -> web.Response:
    api = apis(request)
    iid = request.match_info["image_id"]
    image = await api.images.show(iid)
    members: list[dict[str, Any]] = []
    error = ""
    if image.get("visibility") == "shared" and image.get("owner") == request[SESSION].project.id:
        doc, error = await attempt(api.image_json.get(f"/images/{q(iid)}/members"), {})
        members = (doc or {}).get("members", [])
    core = {"id", "name", "status", "visibility", "protected", "disk_format",
            "container_format", "size", "virtual_size", "min_disk", "min_ram", "owner",
            "checksum", "os_hash_algo", "os_hash_value", "created_at", "updated_at", "tags",
            "self", "file", "schema", "os_hidden", "locations", "direct_url"}
    props = sorted((k, v) for k, v in image.items() if k not in core)
    return render(request, "images/detail.html", title=f"Image {image.get('name') or iid}",
                  image=image, members=members, error=error, props=props,
                  visibilities=_visibilities(request))


@routes.post(LIST + "{image_id}/edit")
async def edit(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    iid = request.match_info["image_id"]

    async def work() -> None:
        visibility = field(data, "visibility")
        if visibility not in VISIBILITIES:
            raise Denied(400, f"Visibility {visibility} is not one of "
                              f"{', '.join(VISIBILITIES)}.")
        ops = [{"op": "replace", "path": "/name", "value": field(data, "name",
                                                                 label="Image name")},
               {"op": "replace", "path": "/visibility", "value": visibility},
               {"op": "replace", "path": "/protected", "value": checkbox(data, "protected")}]
        await api.image_json.patch(f"/images/{q(iid)}", ops,
                                   "application/openstack-images-v2.1-json-patch")

    return await act(request, LIST + iid, "The image was changed.", work)


@routes.post(LIST + "{image_id}/members")
async def add_member(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    iid = request.match_info["image_id"]

    async def work() -> None:
        await api.image_json.post(f"/images/{q(iid)}/members",
                                  {"member": field(data, "member", label="Project ID")})

    return await act(request, LIST + iid, "The project was added to the image's members.",
                     work)


@routes.post(LIST + "{image_id}/members/{member}/delete")
async def remove_member(request: web.Request) -> web.Response:
    api = apis(request)
    iid, member = request.match_info["image_id"], request.match_info["member"]

    async def work() -> None:
        await api.image_json.delete(f"/images/{q(iid)}/members/{q(member)}")

    return await act(request, LIST + iid, "The project no longer shares the image.", work)


@routes.post(LIST + "{image_id}/accept")
async def accept(request: web.Request) -> web.Response:
    """A shared image offered to this project: accept it (it then lists as ours)."""
    data = await form(request)
    api = apis(request)
    iid = request.match_info["image_id"]
    status = "accepted" if data.get("status") != "rejected" else "rejected"
    me = request[SESSION].project.id

    async def work() -> None:
        await api.image_json.put(f"/images/{q(iid)}/members/{q(me)}", {"status": status})

    return await act(request, LIST, f"The shared image was {status}.", work)


@routes.post(LIST + "{image_id}/delete")
async def delete(request: web.Request) -> web.Response:
    api = apis(request)
    iid = request.match_info["image_id"]

    async def work() -> None:
        await api.images.delete(iid)

    return await act(request, LIST, "The image was deleted.", work)
