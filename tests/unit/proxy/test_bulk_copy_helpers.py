"""The pure parts of the copy, symlink, versioning and bulk features, against Swift's rules."""

from __future__ import annotations

import asyncio
import io
import tarfile
import threading
from collections.abc import AsyncIterator

import pytest
from multidict import CIMultiDict

from proxy.features.bulk import (
    _BodyReader,
    _streamed,
    best_match,
    pax_header,
    status_line,
)
from proxy.features.bulk import (
    bulk_body as response_body,
)
from proxy.features.copy import Reply, check_account, split_header_path
from proxy.features.symlink import show_link
from proxy.features.versioned_writes import version_name, versions_prefix


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "text/plain"), ("", "text/plain"), ("*/*", "text/plain"),
    ("application/json", "application/json"), ("text/xml", "text/xml"),
    ("application/*", "application/json"),
    ("text/plain;q=0.1, application/xml", "application/xml"),
    ("application/json;q=0, text/*", "text/plain"),
    ("image/png", None), ("garbage", None),
])
def test_best_match(accept: str | None, expected: str | None) -> None:
    assert best_match(accept) == expected


def test_response_bodies() -> None:
    data = {"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 1,
            "Number Not Found": 0}
    errors = [["/c/a%20b", "409 Conflict"], ["/c/<x>", "403 Forbidden"]]
    assert response_body("application/json", data, errors, "delete") == (
        b'{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 1, '
        b'"Number Not Found": 0, "Errors": [["/c/a%20b", "409 Conflict"], '
        b'["/c/<x>", "403 Forbidden"]]}')
    assert response_body("text/plain", data, errors, "delete") == (
        b"Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \n"
        b"Response Status: 400 Bad Request\nErrors:\n/c/a%20b, 409 Conflict\n"
        b"/c/<x>, 403 Forbidden\n")
    assert response_body("text/xml", data, errors, "delete") == (
        b"<delete>\n<number_deleted>1</number_deleted>\n<number_not_found>0</number_not_found>"
        b"\n<response_body></response_body>\n<response_status>400 Bad Request"
        b"</response_status>\n<errors>\n<object><name>/c/a%20b</name><status>409 Conflict"
        b"</status></object>\n<object><name>/c/&lt;x&gt;</name><status>403 Forbidden</status>"
        b"</object>\n</errors>\n</delete>\n")
    assert status_line(413) == "413 Request Entity Too Large"
    assert status_line(500) == "500 Internal Error"


def test_pax_headers() -> None:
    assert pax_header("SCHILY.xattr.user.mime_type") == "Content-Type"
    assert pax_header("LIBARCHIVE.xattr.user.mime_type") == "Content-Type"
    assert pax_header("SCHILY.xattr.user.meta.lunch") == "X-Object-Meta-lunch"
    assert pax_header("LIBARCHIVE.xattr.user.meta.x") == "X-Object-Meta-x"
    assert pax_header("SCHILY.xattr.user.stuff") is None
    assert pax_header("mtime") is None


async def test_heartbeats_while_the_work_goes_on() -> None:
    async def slow() -> bytes:
        await asyncio.sleep(0.35)
        return b"done"

    chunks = [c async for c in _streamed(slow, 0.1, b"<?xml?>\n")]
    assert chunks[0] == b"<?xml?>\n" and set(chunks[1:-1]) <= {b" "} and len(chunks) >= 3
    assert chunks[-1] == b"\r\n\r\ndone"

    async def quick() -> bytes:
        return b"body"

    assert [c async for c in _streamed(quick, 0.1, b" ")] == [b"body"]


async def test_tar_streams_from_an_async_body_through_a_thread() -> None:
    buf = io.BytesIO()
    with tarfile.open(mode="w:gz", fileobj=buf) as tar:
        for name, data in (("c/a", b"A" * 100000), ("c/b", b"B")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 777):
            await asyncio.sleep(0)
            yield raw[i:i + 777]

    loop = asyncio.get_running_loop()
    reader = _BodyReader(loop, body(), threading.Event())

    def walk() -> list[tuple[str, int]]:
        with tarfile.open(mode="r|gz", fileobj=reader) as tar:
            out = []
            for member in tar:
                data = tar.extractfile(member)
                assert data is not None
                out.append((member.name, len(data.read())))
            return out

    assert await asyncio.to_thread(walk) == [("c/a", 100000), ("c/b", 1)]


def test_header_paths() -> None:
    assert split_header_path("c/o/with/slashes", "bad") == ("c", "o/with/slashes")
    assert split_header_path("/c/o%20x", "bad") == ("c", "o x")
    for bad in ("c", "/c", "c/", "/", "", "//o"):
        with pytest.raises(Reply) as err:
            split_header_path(bad, "bad form")
        assert err.value.response.status == 412 and err.value.response.body == b"bad form"
    assert check_account("AUTH_x%20y") == "AUTH_x y"
    for bad, message in (("", b"Account name cannot be empty"),
                         ("a%2Fb", b"Account name cannot contain slashes")):
        with pytest.raises(Reply) as err:
            check_account(bad)
        assert err.value.response.body == message


def test_show_link() -> None:
    headers = CIMultiDict({"X-Object-Sysmeta-Symlink-Target": "c/o",
                           "X-Object-Sysmeta-Symlink-Target-Etag": "e",
                           "X-Object-Sysmeta-Other": "kept", "Content-Length": "0"})
    show_link(headers)
    assert dict(headers) == {"X-Object-Sysmeta-Other": "kept", "Content-Length": "0",
                             "X-Symlink-Target": "c/o", "X-Symlink-Target-Etag": "e"}


def test_version_names() -> None:
    assert versions_prefix("obj") == "003obj/"
    assert versions_prefix("ü" * 10) == "014" + "ü" * 10 + "/"  # UTF-8 bytes, in hex
    assert version_name("o", "1700000000.5") == "001o/1700000000.50000"
