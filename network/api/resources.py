"""One engine for every resource of the API: each :class:`Kind` names its collection,
attributes, visible rows, view and the core's rules; the engine gives it Neutron's
routes and common behaviour.

* ``GET /v2.0/<collection>`` (filters, tags, sorting, pages, ``fields``),
  ``GET /v2.0/<collection>/{id}`` (``fields``);
* ``POST /v2.0/<collection>`` (one, or several at once: all or none),
  ``PUT`` and ``DELETE /v2.0/<collection>/{id}`` (``If-Match: revision_number=N``);
* tags: ``GET/PUT/DELETE /v2.0/<collection>/{id}/tags[/{tag}]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL

from common.errors import StrataError
from network.api import attributes, listing
from network.api.base import (
    base_url,
    json_body,
    json_response,
    member_body,
    no_content,
    run,
)
from network.core.base import Ctx
from network.errors import HTTPBadRequest, RevisionNumberConstraintFailed, TagNotFound
from network.policy import check_owner

Item = dict[str, Any]


def _nothing(ctx: Ctx) -> None:
    return None


@dataclass
class Kind:
    path: str  # in the URL: "security-groups"
    collection: str  # in bodies: "security_groups"
    member: str  # "security_group"
    spec: attributes.Spec
    fields: tuple[str, ...]  # every attribute shown (to admins): filters and sort keys
    missing: Callable[[str], StrataError]
    rows: Callable[[Ctx], list[Any]]
    one: Callable[[Ctx, str], Any]
    render: Callable[[Ctx, list[Any]], list[Item]]
    create: Callable[[Ctx, dict[str, Any]], Any] | None = None
    update: Callable[[Ctx, Any, dict[str, Any]], Any] | None = None
    delete: Callable[[Ctx, Any], None] | None = None
    before_list: Callable[[Ctx], None] = _nothing
    special: Mapping[str, listing.Special] = field(default_factory=dict)
    taggable: bool = True


_IF_MATCH = re.compile(r"revision_number=(\d+)")


def _check_revision(request: web.Request, row: Any) -> None:
    for value in request.headers.getall("If-Match", []):
        for part in value.split(","):
            found = _IF_MATCH.fullmatch(part.strip())
            if found and int(found.group(1)) != row.revision_number:
                raise RevisionNumberConstraintFailed(int(found.group(1)), row.revision_number)


def _public_url(request: web.Request) -> URL:
    return URL(base_url(request) + request.path)


def _one_item(kind: Kind, ctx: Ctx, row: Any) -> Item:
    ctx.s.flush()
    return kind.render(ctx, [row])[0]


def add_routes(app: web.Application, kind: Kind) -> None:
    base = f"/v2.0/{kind.path}"
    known = frozenset(kind.fields)

    async def index(request: web.Request) -> web.Response:
        def work(ctx: Ctx) -> list[Item]:
            kind.before_list(ctx)
            return kind.render(ctx, kind.rows(ctx))

        items = await run(request, work)
        return json_response(listing.respond(items, request.query, _public_url(request),
                                             kind.collection, known, kind.special,
                                             kind.missing))

    async def show(request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        item = await run(request, lambda ctx: kind.render(ctx, [kind.one(ctx, ident)])[0])
        return json_response({kind.member: listing.only(item, listing.fields_of(
            request.query))})

    async def create(request: web.Request) -> web.Response:
        assert kind.create is not None
        make = kind.create
        body = await json_body(request)
        if isinstance(body, dict) and kind.collection in body and kind.member not in body:
            entries = body[kind.collection]
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise HTTPBadRequest(f"Invalid input for {kind.collection}. Reason: a list "
                                     "of objects is required.")
            many = [attributes.parse(kind.spec, e, create=True) for e in entries]
            made = await run(request, lambda ctx: kind.render(
                ctx, [_flushed(ctx, make(ctx, attrs)) for attrs in many]), write=True)
            return json_response({kind.collection: made}, status=201)
        attrs = attributes.parse(kind.spec, member_body(body, kind.member), create=True)
        item = await run(request, lambda ctx: _one_item(kind, ctx, make(ctx, attrs)),
                         write=True)
        return json_response({kind.member: item}, status=201)

    async def update(request: web.Request) -> web.Response:
        assert kind.update is not None
        change = kind.update
        ident = request.match_info["id"]
        attrs = attributes.parse(kind.spec, member_body(await json_body(request),
                                                        kind.member), create=False)

        def work(ctx: Ctx) -> Item:
            row = kind.one(ctx, ident)
            _check_revision(request, row)
            return _one_item(kind, ctx, change(ctx, row, attrs))

        return json_response({kind.member: await run(request, work, write=True)})

    async def remove(request: web.Request) -> web.Response:
        assert kind.delete is not None
        drop = kind.delete
        ident = request.match_info["id"]

        def work(ctx: Ctx) -> None:
            row = kind.one(ctx, ident)
            _check_revision(request, row)
            drop(ctx, row)

        await run(request, work, write=True)
        return no_content()

    app.router.add_get(base, index)
    app.router.add_get(base + "/{id}", show)
    if kind.create is not None:
        app.router.add_post(base, create)
    if kind.update is not None:
        app.router.add_put(base + "/{id}", update)
    if kind.delete is not None:
        app.router.add_delete(base + "/{id}", remove)
    if kind.taggable:
        _tag_routes(app, kind, base)


def _flushed(ctx: Ctx, row: Any) -> Any:
    ctx.s.flush()
    return row


def _tag_routes(app: web.Application, kind: Kind, base: str) -> None:
    rule = f"update_{kind.member}"

    def owned(ctx: Ctx, ident: str) -> Any:
        row = kind.one(ctx, ident)
        check_owner(ctx.caller, row.project_id, rule)
        return row

    async def get_all(request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        tags = await run(request, lambda ctx: list(kind.one(ctx, ident).tags))
        return json_response({"tags": tags})

    async def get_one(request: web.Request) -> web.Response:
        ident, tag = request.match_info["id"], request.match_info["tag"]
        if tag not in await run(request, lambda ctx: list(kind.one(ctx, ident).tags)):
            raise TagNotFound(tag, kind.member, ident)
        return no_content()

    async def replace(request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        body = await json_body(request)
        if not isinstance(body, dict) or "tags" not in body:
            raise HTTPBadRequest("Invalid input for tags. Reason: 'tags' is required.")
        tags = attributes.list_of(attributes.tag, unique=True)("tags", body["tags"])

        def work(ctx: Ctx) -> None:
            row = owned(ctx, ident)
            row.tags = tags
            row.touch()

        await run(request, work, write=True)
        return json_response({"tags": tags})

    async def add(request: web.Request) -> web.Response:
        ident = request.match_info["id"]
        tag = attributes.tag("tag", request.match_info["tag"])

        def work(ctx: Ctx) -> None:
            row = owned(ctx, ident)
            if tag not in row.tags:
                row.tags = [*row.tags, tag]
                row.touch()

        await run(request, work, write=True)
        return web.Response(status=201)

    async def remove_all(request: web.Request) -> web.Response:
        ident = request.match_info["id"]

        def work(ctx: Ctx) -> None:
            row = owned(ctx, ident)
            if row.tags:
                row.tags = []
                row.touch()

        await run(request, work, write=True)
        return no_content()

    async def remove_one(request: web.Request) -> web.Response:
        ident, tag = request.match_info["id"], request.match_info["tag"]

        def work(ctx: Ctx) -> None:
            row = owned(ctx, ident)
            if tag not in row.tags:
                raise TagNotFound(tag, kind.member, ident)
            row.tags = [t for t in row.tags if t != tag]
            row.touch()

        await run(request, work, write=True)
        return no_content()

    app.router.add_get(base + "/{id}/tags", get_all)
    app.router.add_put(base + "/{id}/tags", replace)
    app.router.add_delete(base + "/{id}/tags", remove_all)
    app.router.add_get(base + "/{id}/tags/{tag}", get_one)
    app.router.add_put(base + "/{id}/tags/{tag}", add)
    app.router.add_delete(base + "/{id}/tags/{tag}", remove_one)
