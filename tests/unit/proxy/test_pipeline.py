"""SwiftRequest subrequests and the reach of a feature's pre-authorization."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict, MultiDict

from proxy.pipeline import Handler, Pipeline, SwiftRequest, SwiftResponse
from proxy.request import SwiftPath


def request(account: str = "AUTH_a", container: str = "c", obj: str = "o") -> SwiftRequest:
    return SwiftRequest("GET", SwiftPath("v1", account, container, obj), CIMultiDict(),
                        MultiDict())


def test_plain_requests_are_not_pre_authorized() -> None:
    assert not request().pre_authorized
    assert not request().sub("GET", SwiftPath("v1", "AUTH_a", "c", "x"),
                             source="test").pre_authorized


def test_a_container_scoped_grant_stays_in_its_container() -> None:
    req = request()
    req.env.update(authorized=True, auth_scope=("AUTH_a", "c"))
    assert req.pre_authorized
    same = req.sub("GET", SwiftPath("v1", "AUTH_a", "c", "segment"), source="slo")
    other = req.sub("GET", SwiftPath("v1", "AUTH_a", "segments", "s1"), source="slo")
    elsewhere = req.sub("GET", SwiftPath("v1", "AUTH_b", "c", "s1"), source="slo")
    assert same.pre_authorized
    assert not other.pre_authorized
    assert not elsewhere.pre_authorized
    assert other.env["source"] == "slo" and other.env["authorized"] is True


def test_an_account_scoped_grant_reaches_the_whole_account_only() -> None:
    req = request()
    req.env.update(authorized=True, auth_scope=("AUTH_a", None))
    assert req.sub("GET", SwiftPath("v1", "AUTH_a", "segments", "s1"),
                   source="dlo").pre_authorized
    assert not req.sub("GET", SwiftPath("v1", "AUTH_b", "segments", "s1"),
                       source="dlo").pre_authorized


def test_sub_with_bytes_sets_the_length() -> None:
    sub = request().sub("PUT", SwiftPath("v1", "AUTH_a", "c", "n"), body=b"12345",
                        source="copy")
    assert sub.content_length == 5 and sub.method == "PUT"
    assert dict(sub.headers) == {} and sub.raw_query == ""


class Mark:
    """A feature that notes it ran."""

    name: str | None = None

    def __init__(self, label: str, seen: list[str]) -> None:
        self.label, self.seen = label, seen

    def info(self) -> dict[str, Any]:
        return {}

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        self.seen.append(self.label)
        return await next_handler(req)


@pytest.mark.parametrize(("s3_from", "s3_path"), [
    (0, ["a", "b", "c"]), (2, ["c"]), (3, []), (9, [])])
async def test_call_s3_runs_the_features_from_its_entry_on(s3_from: int,
                                                           s3_path: list[str]) -> None:
    seen: list[str] = []

    async def core(req: SwiftRequest) -> SwiftResponse:
        seen.append("core")
        return SwiftResponse.of(204)

    pl = Pipeline([Mark(x, seen) for x in "abc"], core, s3_from)
    assert (await pl.call(request())).status == 204
    assert seen == ["a", "b", "c", "core"]
    seen.clear()
    assert (await pl.call_s3(request())).status == 204
    assert seen == [*s3_path, "core"]
