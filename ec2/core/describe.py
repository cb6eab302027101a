"""What every Describe action shares: ids and tags of what the native service listed
(one transaction), the ids asked for, filters, pages; and the native errors in EC2's
words."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import NotFound, TooLarge
from ec2.core import filters, ids, paging, tags
from ec2.core.context import Body, Ctx
from ec2.errors import LimitExceeded, native_message


@dataclass
class Seen:
    """EC2 ids of the native resources an answer names, and the project's tags on them."""

    by_kind: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> uuid -> id
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> key -> value

    def id(self, kind: ids.Kind, uuid: str | None) -> str | None:
        return self.by_kind.get(kind.name, {}).get(uuid) if uuid else None

    def tags_of(self, ident: str | None) -> dict[str, str]:
        return self.tags.get(ident or "", {})


async def see(ctx: Ctx, wanted: Mapping[ids.Kind, Mapping[str, str]],
              tagged: Iterable[ids.Kind] = (), complete: ids.Kind | None = None) -> Seen:
    """Give ids to every uuid of ``wanted`` (kind -> uuid -> prefix of a new id) and read
    the project's tags on those of the ``tagged`` kinds, in one transaction.

    ``complete`` names a kind of which ``wanted`` holds every resource the project has
    (a whole listing): the project's tags on others of that kind are of resources
    deleted natively since, and are dropped."""
    tagged_kinds = set(tagged)

    def work(s: Any) -> Seen:
        seen = Seen()
        for kind, uuids in wanted.items():
            seen.by_kind[kind.name] = ids.assign(s, kind, uuids) if uuids else {}
        if complete is not None:
            tags.prune(s, ctx.project, complete.resource_type,
                       seen.by_kind.get(complete.name, {}).values())
        tagged_ids = [i for k in tagged_kinds for i in seen.by_kind.get(k.name, {}).values()]
        seen.tags = tags.of(s, ctx.project, tagged_ids) if tagged_ids else {}
        return seen

    return await ctx.run(work)


@dataclass
class Item:
    """One resource of a Describe answer: its id, its view, the values its filters read,
    its tags."""

    id: str
    view: dict[str, Any]
    fields: dict[str, Any]
    tags: dict[str, str]


def answer(items: list[Item], set_name: str, *, kind: ids.Kind | None, wanted: list[str],
           found: list[filters.Filter], page: paging.Paging | None = None) -> Body:
    """The Describe answer: the items asked for by id (each must be there: the kind's
    NotFound names the first that is not), those passing the filters, one page."""
    if wanted:
        assert kind is not None
        present = {i.id for i in items}
        missing = [w for w in wanted if w not in present]
        if missing:
            raise kind.missing(missing[0])
        asked = set(wanted)
        items = [i for i in items if i.id in asked]
    items = [i for i in items if filters.matches(found, i.fields, i.tags)]
    if page is None:
        return {set_name: [i.view for i in sorted(items, key=lambda i: i.id)]}
    chunk, token = paging.page(items, lambda i: i.id, page)
    body: Body = {set_name: [i.view for i in chunk]}
    if token:
        body["nextToken"] = token
    return body


@contextlib.contextmanager
def missing_as(kind: ids.Kind, ident: str) -> Iterator[None]:
    """A native 404 about ``ident`` as the kind's EC2 NotFound."""
    try:
        yield
    except NotFound:
        raise kind.missing(ident) from None


@contextlib.contextmanager
def limit_as(code: str) -> Iterator[None]:
    """A native quota refusal (413) as EC2's ``<Resource>LimitExceeded``."""
    try:
        yield
    except TooLarge as exc:
        raise LimitExceeded(native_message(exc), code) from None
