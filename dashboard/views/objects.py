"""Project → Object Store → Containers: create, make public or private, browse with
pseudo-folders, upload (streamed, with progress), download, delete, metadata."""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from common.errors import BadRequest
from dashboard.uploads import read_upload
from dashboard.web import (
    CFG,
    SESSION,
    act,
    apis,
    checkbox,
    field,
    form,
    redirect,
    render,
    upload_handler,
)

routes = web.RouteTableDef()
LIST = "/project/containers/"
PUBLIC_READ = ".r:*,.rlistings"
_META_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def container_path(container: str, prefix: str = "") -> str:
    url = f"{LIST}{quote(container, safe='')}/"
    return url + "?" + urlencode({"prefix": prefix}) if prefix else url


def is_public(headers: Any) -> bool:
    return ".r:*" in str(headers.get("X-Container-Read", ""))


def user_meta(headers: Any, kind: str) -> list[tuple[str, str]]:
    """(key, value) of ``X-<kind>-Meta-*`` headers."""
    lead = f"x-{kind}-meta-"
    return sorted((k[len(lead):], v) for k, v in headers.items()
                  if k.lower().startswith(lead))


def check_name(name: str, what: str) -> str:
    """A container's name (no '/', 256 bytes at most) or an object's (1024)."""
    container = what == "Container name"
    if not name:
        raise BadRequest(f"{what} is required.")
    if container and "/" in name:
        raise BadRequest("A container's name may not contain '/'.")
    if len(name.encode()) > (256 if container else 1024):
        raise BadRequest(f"{what} is too long.")
    return name


@routes.get(LIST)
async def containers(request: web.Request) -> web.Response:
    api = apis(request)
    marker = request.query.get("marker", "")
    page_size = request.app[CFG].dashboard.page_size
    items, headers = await api.swift.list_containers(marker=marker, limit=page_size)
    nxt = items[-1]["name"] if len(items) == page_size else ""
    return render(request, "objects/containers.html", title="Containers", containers=items,
                  account=headers, next_marker=nxt)


@routes.post(LIST + "create")
async def create_container(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    name = str(data.get("name", "")).strip()

    async def work() -> None:
        check_name(name, "Container name")
        headers = {"X-Container-Read": PUBLIC_READ} if checkbox(data, "public") else {}
        await api.swift.create_container(name, headers)

    return await act(request, container_path(name) if name and "/" not in name else LIST,
                     f"Container {name} was created.", work)


@routes.get(LIST + "{container}/")
async def browse(request: web.Request) -> web.Response:
    api = apis(request)
    container = request.match_info["container"]
    prefix = request.query.get("prefix", "")
    marker = request.query.get("marker", "")
    page_size = request.app[CFG].dashboard.page_size
    items, headers = await api.swift.list_page(container, prefix=prefix, delimiter="/",
                                               marker=marker, limit=page_size)
    folders = [i["subdir"] for i in items if "subdir" in i]
    objects = [i for i in items if "name" in i and i["name"] != prefix]
    nxt = ""
    if len(items) == page_size:
        last = items[-1]
        nxt = str(last.get("name") or last.get("subdir"))
    crumbs: list[tuple[str, str]] = []
    parts = prefix.split("/")[:-1] if prefix else []
    for i, part in enumerate(parts):
        crumbs.append((part, container_path(container, "/".join(parts[:i + 1]) + "/")))
    return render(request, "objects/browse.html", title=f"Container {container}",
                  container=container, prefix=prefix, folders=folders, objects=objects,
                  headers=headers, public=is_public(headers), crumbs=crumbs,
                  meta=user_meta(headers, "container"), next_marker=nxt,
                  public_url=api.object_url(container) if is_public(headers) else "",
                  base=container_path(container))


@routes.post(LIST + "{container}/upload")
@upload_handler
async def upload(request: web.Request) -> web.Response:
    session = request[SESSION]
    api = apis(request)
    container = request.match_info["container"]
    data = await read_upload(request)
    prefix = data.fields.get("prefix", "")
    back = container_path(container, prefix)
    if data.file is None or not data.filename:
        session.flash("error", "Choose a file to upload.")
        return redirect(request, back)
    name = prefix + (data.fields.get("name", "").strip() or data.filename)
    ctype = data.file.headers.get("Content-Type") or mimetypes.guess_type(name)[0] or \
        "application/octet-stream"

    async def work() -> None:
        check_name(name, "Object name")
        await api.swift.put_object(container, name, data.chunks(), content_type=ctype)

    return await act(request, back, f"{name} was uploaded.", work)


@routes.post(LIST + "{container}/folder")
async def create_folder(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    container = request.match_info["container"]
    prefix = str(data.get("prefix", ""))

    async def work() -> None:
        name = field(data, "name", label="Folder name").strip("/")
        await api.swift.put_object(container, f"{prefix}{name}/", b"",
                                   content_type="application/directory")

    return await act(request, container_path(container, prefix), "The folder was created.",
                     work)


@routes.post(LIST + "{container}/access")
async def set_access(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    container = request.match_info["container"]
    public = checkbox(data, "public")

    async def work() -> None:
        headers = {"X-Container-Read": PUBLIC_READ} if public else \
            {"X-Remove-Container-Read": "x"}
        await api.swift.post_container(container, headers)

    return await act(request, container_path(container),
                     "The container is now public: anyone may read it." if public else
                     "The container is now private.", work)


@routes.post(LIST + "{container}/metadata")
async def set_metadata(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    container = request.match_info["container"]

    async def work() -> None:
        await api.swift.post_container(container, meta_headers(data, "Container"))

    return await act(request, container_path(container), "The metadata was changed.", work)


def meta_headers(data: Any, kind: str) -> dict[str, str]:
    """``X-<kind>-Meta-<key>`` to set one item, or ``X-Remove-...`` with ``remove``."""
    key = field(data, "key", label="Metadata key")
    if not _META_KEY.fullmatch(key):
        raise BadRequest("A metadata key is letters, digits, '-' and '_'.")
    if data.get("remove"):
        return {f"X-Remove-{kind}-Meta-{key}": "x"}
    return {f"X-{kind}-Meta-{key}": field(data, "value", label="Metadata value")}


@routes.post(LIST + "{container}/delete")
async def delete_container(request: web.Request) -> web.Response:
    api = apis(request)
    container = request.match_info["container"]

    async def work() -> None:
        await api.swift.delete_container(container)

    return await act(request, LIST, f"Container {container} was deleted.", work)


def _object_name(request: web.Request) -> str:
    name = request.query.get("name", "")
    if not name:
        raise BadRequest("Which object? The name is missing.")
    return name


@routes.get(LIST + "{container}/object")
async def object_detail(request: web.Request) -> web.Response:
    api = apis(request)
    container = request.match_info["container"]
    name = _object_name(request)
    headers = await api.swift.head_object(container, name)
    if headers is None:
        raise web.HTTPNotFound(text=f"There is no object {name} in {container}.")
    folder = name.rpartition("/")[0]
    return render(request, "objects/object.html", title=f"Object {name}", container=container,
                  name=name, headers=headers, meta=user_meta(headers, "object"),
                  back=container_path(container, folder + "/" if folder else ""),
                  query=urlencode({"name": name}),
                  public_url=api.object_url(container, name))


@routes.get(LIST + "{container}/download")
async def download(request: web.Request) -> web.StreamResponse:
    api = apis(request)
    container = request.match_info["container"]
    name = _object_name(request)
    async with await api.swift.get_object(container, name) as body:
        filename = name.rpartition("/")[2] or "download"
        response = web.StreamResponse(headers={
            "Content-Type": body.headers.get("Content-Type", "application/octet-stream"),
            "Content-Disposition": "attachment; filename*=UTF-8''" + quote(filename, safe=""),
        })
        length = body.headers.get("Content-Length")
        if length is not None:
            response.content_length = int(length)
        await response.prepare(request)
        async for chunk in body:
            await response.write(chunk)
        await response.write_eof()
        return response


@routes.post(LIST + "{container}/object/metadata")
async def set_object_metadata(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    container = request.match_info["container"]
    name = field(data, "name", label="Object name")

    async def work() -> None:
        current = await api.swift.head_object(container, name) or {}
        # Swift's POST replaces every user metadata item: send them all, changed.
        keep = {f"X-Object-Meta-{k}": v for k, v in user_meta(current, "object")}
        change = meta_headers(data, "Object")
        for header, value in change.items():
            if header.startswith("X-Remove-"):
                keep.pop("X-Object-Meta-" + header[len("X-Remove-Object-Meta-"):], None)
            else:
                keep[header] = value
        if current.get("Content-Type"):
            keep["Content-Type"] = current["Content-Type"]
        await api.swift.post_object(container, name, keep)

    return await act(request, f"{LIST}{quote(container, safe='')}/object?"
                     + urlencode({"name": name}), "The metadata was changed.", work)


@routes.post(LIST + "{container}/object/delete")
async def delete_object(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    container = request.match_info["container"]
    name = field(data, "name", label="Object name")
    folder = name.rstrip("/").rpartition("/")[0]

    async def work() -> None:
        if not await api.swift.delete_object(container, name):
            raise BadRequest(f"There is no object {name} any more.")

    return await act(request, container_path(container, folder + "/" if folder else ""),
                     f"{name} was deleted.", work)
