"""CreateTags, DeleteTags, DescribeTags on every taggable resource.

A resource is checked before it is tagged: its id must be of a taggable kind and
name something the caller sees (the native service is asked, with the caller's
token). Every id of a request is checked before any tag is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ec2.core import describe, filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.core.describe import Item, missing_as
from ec2.errors import MalformedId, MissingParameter
from ec2.params import Params

TAG_FILTERS = ("key", "resource-id", "resource-type", "value")
MAX_RESOURCES = 1000

Show = Callable[[Ctx, str], Awaitable[Any]]


def _network(path: str) -> Show:
    async def show(ctx: Ctx, uuid: str) -> Any:
        return await ctx.network.show_one(path, uuid)
    return show


async def _volume(ctx: Ctx, uuid: str) -> Any:
    return await ctx.volumes.show_volume(uuid)


async def _snapshot(ctx: Ctx, uuid: str) -> Any:
    return await ctx.volumes.show_snapshot(uuid)


async def _image(ctx: Ctx, uuid: str) -> Any:
    return await ctx.images.show(uuid)


async def _instance(ctx: Ctx, uuid: str) -> Any:
    return await ctx.compute.show_server(uuid)


# How each taggable kind's resource is looked at (with the caller's token).
SHOW: dict[str, Show] = {
    ids.INSTANCE.name: _instance, ids.VOLUME.name: _volume, ids.SNAPSHOT.name: _snapshot,
    ids.IMAGE.name: _image,
    ids.SECURITY_GROUP.name: _network("security-groups"),
    ids.ADDRESS.name: _network("floatingips"), ids.VPC.name: _network("networks"),
    ids.SUBNET.name: _network("subnets"), ids.NETWORK_INTERFACE.name: _network("ports"),
}


def _kind(ident: str) -> ids.Kind:
    kind = ids.kind_of(ident)
    if kind is None or kind.name not in SHOW:
        raise MalformedId(f"Invalid id: \"{ident[:100]}\"", "InvalidID")
    return kind


async def _resources(ctx: Ctx, p: Params) -> list[tuple[str, ids.Kind]]:
    idents = p.strings("ResourceId")
    if not idents:
        raise MissingParameter("The request must contain the parameter ResourceId")
    if len(idents) > MAX_RESOURCES:
        raise MissingParameter(f"At most {MAX_RESOURCES} resources per request")
    return [(ident, _kind(ident)) for ident in dict.fromkeys(idents)]


async def create_tags(ctx: Ctx, p: Params) -> Body:
    resources = await _resources(ctx, p)
    pairs = tags.parse_pairs(p.structs("Tag"))
    if not pairs:
        raise MissingParameter("The request must contain the parameter Tag")
    for ident, kind in resources:
        uuid = await ctx.resolve(kind, ident)
        with missing_as(kind, ident):
            await SHOW[kind.name](ctx, uuid)

    def work(s: Any) -> None:
        for ident, kind in resources:
            tags.put(s, ctx.project, ident, kind.resource_type, pairs)

    await ctx.run(work)
    return {"return": True}


async def delete_tags(ctx: Ctx, p: Params) -> Body:
    resources = await _resources(ctx, p)
    keys = tags.parse_keys(p.structs("Tag"))
    await ctx.run(lambda s: tags.remove(s, ctx.project, [i for i, _ in resources], keys))
    return {"return": True}


async def describe_tags(ctx: Ctx, p: Params) -> Body:
    found = filters.parse(p, TAG_FILTERS, tagged=False)
    page = paging.parse(p)
    rows = await ctx.run(lambda s: tags.listing(s, ctx.project))
    items = []
    for row in rows:
        view = {"resourceId": row.resource_id, "resourceType": row.resource_type,
                "key": row.key, "value": row.value}
        fields = {"resource-id": row.resource_id, "resource-type": row.resource_type,
                  "key": row.key, "value": row.value}
        items.append(Item(f"{row.resource_id}\0{row.key}", view, fields, {}))
    return describe.answer(items, "tagSet", kind=None, wanted=[], found=found, page=page)


ACTIONS = {"CreateTags": create_tags, "DeleteTags": delete_tags,
           "DescribeTags": describe_tags}
