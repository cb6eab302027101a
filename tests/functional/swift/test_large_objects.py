"""Static and Dynamic Large Objects on a real Strata, exactly as Swift serves them.

With the real ``swift`` CLI: a 1 GiB file uploaded as an SLO in 100 MiB
segments comes back byte-identical, and smaller files do as SLO and DLO;
``swift delete`` of an SLO removes its segments. Over raw HTTP: manifests,
ranges across segment boundaries, conditional reads, ``multipart-manifest``
get/raw/delete, nested and ranged manifests, and every bad manifest answered
with Swift's per-segment errors and nothing stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.functional.swift.conftest import StrataInstance, SwiftUser

SWIFT = str(Path(sys.executable).with_name("swift"))
MiB = 1 << 20


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def segs(demo: SwiftUser) -> dict[str, bytes]:
    """Three segments in container ``segs`` (one above the proxy's 256 KiB stream limit)."""
    assert demo.request("PUT", "/segs").status_code in (201, 202)
    assert demo.request("PUT", "/lo").status_code in (201, 202)
    data = {"s0": os.urandom(300_000), "s1": os.urandom(70_000), "s2": os.urandom(500_001)}
    for name, body in data.items():
        r = demo.request("PUT", f"/segs/{name}", data=body)
        assert r.status_code == 201, r.text
        assert r.headers["Etag"] == md5(body)
    return data


def manifest(segs: dict[str, bytes], names: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"path": f"/segs/{n}", "etag": md5(segs[n]), "size_bytes": len(segs[n])}
            for n in (names or list(segs))]


def put_manifest(user: SwiftUser, path: str, body: Any, *, raw: bytes | None = None,
                 headers: dict[str, str] | None = None, query: str = "") -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return user.request("PUT", f"{path}?multipart-manifest=put{query}", data=data,
                        headers=headers)


def assert_absent(user: SwiftUser, path: str) -> None:
    assert user.request("HEAD", path).status_code == 404
    container, _, name = path.lstrip("/").partition("/")
    assert name not in user.names(container)


def run_swift(strata: StrataInstance, *args: str, cwd: Path | None = None,
              timeout: int = 600) -> str:
    env = strata.client_env(strata.openrc("demo-openrc"))
    proc = subprocess.run([SWIFT, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"swift {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def swift_download_md5(strata: StrataInstance, container: str, name: str) -> tuple[str, int]:
    """``swift download <container> <name> -o -``, hashed as it streams."""
    env = strata.client_env(strata.openrc("demo-openrc"))
    proc = subprocess.Popen([SWIFT, "download", container, name, "-o", "-"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    digest, size = hashlib.md5(), 0
    while chunk := proc.stdout.read(4 * MiB):
        digest.update(chunk)
        size += len(chunk)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return digest.hexdigest(), size


# --- SLO over HTTP ----------------------------------------------------------------------------


def test_slo_put_get_head(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    whole = segs["s0"] + segs["s1"] + segs["s2"]
    slo_etag = md5("".join(md5(b) for b in segs.values()).encode())
    r = put_manifest(demo, "/lo/big.bin", manifest(segs),
                     headers={"Content-Type": "application/x-big", "X-Object-Meta-Color": "red"})
    assert r.status_code == 201, r.text
    assert r.headers["Etag"] == f'"{slo_etag}"'

    r = demo.request("GET", "/lo/big.bin")
    assert r.status_code == 200
    assert r.content == whole
    assert r.headers["Content-Length"] == str(len(whole))
    assert r.headers["Etag"] == f'"{slo_etag}"'
    assert r.headers["X-Static-Large-Object"] == "True"
    assert r.headers["Content-Type"] == "application/x-big"
    assert r.headers["X-Object-Meta-Color"] == "red"
    assert not [k for k in r.headers if k.lower().startswith("x-object-sysmeta")]

    h = demo.request("HEAD", "/lo/big.bin")
    assert h.status_code == 200
    assert h.headers["Content-Length"] == str(len(whole))
    assert h.headers["Etag"] == f'"{slo_etag}"'
    assert h.headers["X-Static-Large-Object"] == "True"
    assert h.headers["X-Manifest-Etag"] == r.headers["X-Manifest-Etag"]
    assert h.headers["Content-Type"] == "application/x-big"

    # the listing shows the large object's size; bytes used counts only the manifest
    listing = demo.request("GET", "/lo", params={"format": "json", "prefix": "big.bin"}).json()
    assert [(i["name"], i["bytes"], i["content_type"], i["hash"]) for i in listing] == [
        ("big.bin", len(whole), "application/x-big", h.headers["X-Manifest-Etag"])]
    listing = demo.request("GET", "/lo", params={"format": "json", "delimiter": "/"}).json()
    assert [(i["bytes"], i["content_type"]) for i in listing if i.get("name") == "big.bin"
            ] == [(len(whole), "application/x-big")]
    used = int(demo.request("HEAD", "/lo").headers["X-Container-Bytes-Used"])
    assert used < len(whole)


def test_slo_manifest_get_and_raw(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    assert put_manifest(demo, "/lo/m.bin", manifest(segs)).status_code == 201
    r = demo.request("GET", "/lo/m.bin", params={"multipart-manifest": "get"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["X-Static-Large-Object"] == "True"
    assert r.headers["Etag"] == md5(r.content)
    stored = r.json()
    assert [list(e) for e in stored] == [
        ["name", "bytes", "hash", "content_type", "last_modified"]] * 3
    assert [(e["name"], e["bytes"], e["hash"]) for e in stored] == [
        (f"/segs/{n}", len(b), md5(b)) for n, b in segs.items()]
    assert all(e["last_modified"].endswith(".000000") for e in stored)

    raw = demo.request("GET", "/lo/m.bin", params={"multipart-manifest": "get",
                                                    "format": "raw"})
    assert raw.status_code == 200
    assert raw.json() == [{"etag": md5(b), "path": f"/segs/{n}", "size_bytes": len(b)}
                          for n, b in segs.items()]
    assert raw.headers["Etag"] == md5(raw.content)
    assert raw.headers["Content-Type"] == "application/octet-stream"
    # the raw form PUTs back to the same large object
    again = put_manifest(demo, "/lo/m2.bin", None, raw=raw.content)
    assert again.status_code == 201
    assert demo.request("GET", "/lo/m2.bin").content == b"".join(segs.values())


def test_slo_ranges_across_segments(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    whole = b"".join(segs.values())
    total = len(whole)
    assert put_manifest(demo, "/lo/r.bin", manifest(segs)).status_code == 201
    for spec, start, end in [("299990-370009", 299990, 370009),  # s0 end, s1, s2 start
                             ("0-0", 0, 0), (f"{total - 5}-", total - 5, total - 1),
                             ("-10", total - 10, total - 1),
                             ("369999-370000", 369999, 370000),
                             (f"100-{total + 50}", 100, total - 1)]:
        r = demo.request("GET", "/lo/r.bin", headers={"Range": f"bytes={spec}"})
        assert r.status_code == 206, spec
        assert r.headers["Content-Range"] == f"bytes {start}-{end}/{total}"
        assert r.headers["Content-Length"] == str(end - start + 1)
        assert r.content == whole[start:end + 1], spec

    r = demo.request("GET", "/lo/r.bin", headers={"Range": "bytes=10-19,299995-300004"})
    assert r.status_code == 206
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges;boundary=")
    boundary = ctype.split("boundary=")[1]
    assert r.headers["Content-Length"] == str(len(r.content))
    parts = r.content.split(f"--{boundary}".encode())
    assert parts[0] == b"" and parts[-1] == b"--"
    bodies = []
    for part in parts[1:-1]:
        head, _, body = part.partition(b"\r\n\r\n")
        assert body.endswith(b"\r\n")
        bodies.append((head, body[:-2]))
    assert bodies == [
        (f"\r\nContent-Type: application/octet-stream\r\n"
         f"Content-Range: bytes 10-19/{total}".encode(), whole[10:20]),
        (f"\r\nContent-Type: application/octet-stream\r\n"
         f"Content-Range: bytes 299995-300004/{total}".encode(), whole[299995:300005])]

    r = demo.request("GET", "/lo/r.bin", headers={"Range": f"bytes={total}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{total}"


def test_slo_conditional_requests(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    assert put_manifest(demo, "/lo/c.bin", manifest(segs)).status_code == 201
    etag = demo.request("HEAD", "/lo/c.bin").headers["Etag"]
    r = demo.request("GET", "/lo/c.bin", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.headers["Etag"] == etag
    assert r.content == b""
    assert demo.request("GET", "/lo/c.bin", headers={"If-Match": '"nope"'}).status_code == 412
    r = demo.request("GET", "/lo/c.bin", headers={"If-Match": etag, "Range": "bytes=5-9"})
    assert r.status_code == 206
    assert r.content == segs["s0"][5:10]
    assert demo.request("HEAD", "/lo/c.bin", headers={"If-None-Match": etag}
                        ).status_code == 304


def test_slo_ranged_inline_and_nested_segments(demo: SwiftUser,
                                               segs: dict[str, bytes]) -> None:
    body = [{"path": "/segs/s0", "range": "10-19"},
            {"data": base64.b64encode(b"--inline--").decode()},
            {"path": "segs/s1", "etag": None, "size_bytes": None},
            {"path": "/segs/s2", "range": "-7"}]
    r = put_manifest(demo, "/lo/mixed.bin", body)
    assert r.status_code == 201, r.text
    expected = segs["s0"][10:20] + b"--inline--" + segs["s1"] + segs["s2"][-7:]
    etag = md5((f"{md5(segs['s0'])}:10-19;" + md5(b"--inline--") + md5(segs["s1"])
                + f"{md5(segs['s2'])}:{len(segs['s2']) - 7}-{len(segs['s2']) - 1};").encode())
    assert r.headers["Etag"] == f'"{etag}"'
    got = demo.request("GET", "/lo/mixed.bin")
    assert got.content == expected
    assert got.headers["Etag"] == f'"{etag}"'
    raw = demo.request("GET", "/lo/mixed.bin",
                       params={"multipart-manifest": "get", "format": "raw"}).json()
    assert raw[0] == {"path": "/segs/s0", "etag": md5(segs["s0"]),
                      "size_bytes": len(segs["s0"]), "range": "10-19"}
    assert raw[1] == {"data": base64.b64encode(b"--inline--").decode()}

    # a manifest of manifests: the sub-SLO is a segment like any other
    head = demo.request("HEAD", "/lo/mixed.bin")
    outer = [{"path": "/segs/s1", "etag": md5(segs["s1"])},
             {"path": "/lo/mixed.bin", "etag": head.headers["Etag"].strip('"'),
              "size_bytes": int(head.headers["Content-Length"])}]
    r = put_manifest(demo, "/lo/nested.bin", outer)
    assert r.status_code == 201, r.text
    stored = demo.request("GET", "/lo/nested.bin", params={"multipart-manifest": "get"}).json()
    assert stored[1]["sub_slo"] is True
    nested = segs["s1"] + expected
    got = demo.request("GET", "/lo/nested.bin")
    assert got.content == nested
    assert got.headers["Content-Length"] == str(len(nested))
    start = len(segs["s1"]) + 5
    r = demo.request("GET", "/lo/nested.bin", headers={"Range": f"bytes={start}-{start + 20}"})
    assert r.status_code == 206
    assert r.content == nested[start:start + 21]


@pytest.mark.parametrize("accept", ["", "application/json"])
def test_slo_bad_segments_are_400_and_nothing_stored(demo: SwiftUser, segs: dict[str, bytes],
                                                     accept: str) -> None:
    body = [{"path": "/segs/missing", "etag": "x", "size_bytes": 1},
            {"path": "/segs/s0", "etag": "0" * 32, "size_bytes": len(segs["s0"])},
            {"path": "/segs/s1", "etag": md5(segs["s1"]), "size_bytes": 5},
            {"path": "/segs/s2", "etag": "bad", "size_bytes": 3}]
    headers = {"Accept": accept} if accept else {}
    r = put_manifest(demo, "/lo/bad.bin", body, headers=headers)
    assert r.status_code == 400
    errors = [["/segs/missing", "404 Not Found"], ["/segs/s0", "Etag Mismatch"],
              ["/segs/s1", "Size Mismatch"], ["/segs/s2", "Size Mismatch"],
              ["/segs/s2", "Etag Mismatch"]]
    if accept:
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"Errors": errors}
    else:
        assert r.headers["Content-Type"] == "text/plain"
        assert r.text == "Errors:\n" + "".join(f"{n}, {s}\n" for n, s in errors)
    assert_absent(demo, "/lo/bad.bin")


def test_slo_bad_manifests(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    cases: list[tuple[bytes, int, str]] = [
        (b"{not json", 400, "Manifest must be valid JSON.\n"),
        (b'{"path": "/segs/s0"}', 400, "Manifest must be a list.\n"),
        (json.dumps([1, {"etag": "x"}, {"path": "/segs/s0", "extra": 1, "z": 2},
                     {"path": "nocontainer"}, {"path": 5}, {"path": "/segs/s0", "etag": 7},
                     {"path": "/segs/s0", "size_bytes": "many"},
                     {"path": "/segs/s0", "size_bytes": 0},
                     {"path": "/lo/selfref.bin"},
                     {"path": "/segs/s0", "range": "5-2"},
                     {"path": "/segs/s0", "range": "1-2,4-5"},
                     {"path": "/segs/s0", "size_bytes": 10, "range": "20-30"},
                     {"data": "!!!"}, {"data": ""},
                     {"path": "/segs/s0"}]).encode(), 400,
         "Index 0: not a JSON object\n"
         "Index 1: expected keys to include one of 'data' or 'path'\n"
         'Index 2: extraneous keys "extra", "z"\n'
         "Index 3: path does not refer to an object. Path must be of the form "
         "/container/object.\n"
         'Index 4: "path" must be a string\n'
         'Index 5: "etag" must be a string or null (if provided)\n'
         "Index 6: invalid size_bytes\n"
         "Index 7: too small; each segment must be at least 1 byte.\n"
         "Index 8: manifest must not include itself as a segment\n"
         "Index 9: invalid range\n"
         "Index 10: multiple ranges (only one allowed)\n"
         "Index 11: unsatisfiable range\n"
         "Index 12: data must be valid base64\n"
         "Index 13: too small; each segment must be at least 1 byte.\n"),
        (json.dumps([{"data": "YWJj"}]).encode(), 400,
         "Inline data segments require at least one object-backed segment.\n"),
        (json.dumps([{"path": "/segs/s0"}] * 1001).encode(), 413,
         "Number of object-backed segments must be <= 1000"),
    ]
    for raw, status, text in cases:
        r = put_manifest(demo, "/lo/selfref.bin", None, raw=raw)
        assert r.status_code == status, r.text
        assert text in r.text if status == 413 else r.text == text
        assert_absent(demo, "/lo/selfref.bin")

    too_big = b" " * (8 * MiB + 1)
    r = put_manifest(demo, "/lo/selfref.bin", None, raw=too_big)
    assert r.status_code == 413
    assert "Manifest File &gt; 8388608 bytes" in r.text or "Manifest File > 8388608" in r.text

    # an empty segment is refused unless it is the last; a bad range too
    assert demo.request("PUT", "/segs/empty", data=b"").status_code == 201
    r = put_manifest(demo, "/lo/selfref.bin", [{"path": "/segs/empty"}, {"path": "/segs/s1"},
                                               {"path": "/segs/s1", "range": "70000-"}])
    assert r.status_code == 400
    assert r.text == ("Errors:\n/segs/empty, Too small; each segment must be at least 1 byte.\n"
                      "/segs/s1, Unsatisfiable Range\n")
    assert_absent(demo, "/lo/selfref.bin")

    # ETag given with the manifest must be the large object's
    r = put_manifest(demo, "/lo/selfref.bin", manifest(segs), headers={"Etag": "0" * 32})
    assert r.status_code == 422
    assert_absent(demo, "/lo/selfref.bin")

    # the header is the middleware's to set
    r = demo.request("PUT", "/lo/selfref.bin", data=b"[]",
                     headers={"X-Static-Large-Object": "True"})
    assert r.status_code == 400
    assert r.text == ("X-Static-Large-Object is a reserved header. To create a static large "
                      "object add query param multipart-manifest=put.")
    assert_absent(demo, "/lo/selfref.bin")


def test_slo_heartbeat(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    r = put_manifest(demo, "/lo/hb.bin", manifest(segs), query="&heartbeat=on",
                     headers={"Accept": "application/json"})
    assert r.status_code == 202
    assert r.content.startswith(b" ")
    result = json.loads(r.content)
    etag = md5("".join(md5(b) for b in segs.values()).encode())
    assert result["Response Status"] == "201 Created"
    assert result["Etag"] == f'"{etag}"'
    assert result["Errors"] == []
    assert demo.request("HEAD", "/lo/hb.bin").headers["Etag"] == f'"{etag}"'

    r = put_manifest(demo, "/lo/hb-bad.bin", [{"path": "/segs/nope"}], query="&heartbeat=on")
    assert r.status_code == 202
    assert r.text.strip() == (
        "Response Body: Bad Request\nThe server could not comply with the request since it "
        "is either malformed or otherwise incorrect.\nResponse Status: 400 Bad Request\n"
        "Errors:\n/segs/nope, 404 Not Found")
    assert_absent(demo, "/lo/hb-bad.bin")


def test_slo_multipart_delete(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    assert demo.request("PUT", "/dsegs").status_code in (201, 202)
    for i in range(3):
        assert demo.request("PUT", f"/dsegs/p{i}", data=b"x" * (i + 1)).status_code == 201
    body = [{"path": f"/dsegs/p{i}"} for i in range(3)]
    assert put_manifest(demo, "/lo/del.bin", body).status_code == 201
    r = demo.request("DELETE", "/lo/del.bin?multipart-manifest=delete")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert r.text == ("Number Deleted: 4\nNumber Not Found: 0\nResponse Body: \n"
                      "Response Status: 200 OK\nErrors:\n")
    assert demo.names("dsegs") == []
    assert_absent(demo, "/lo/del.bin")

    r = demo.request("DELETE", "/lo/del.bin?multipart-manifest=delete",
                     headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json() == {"Response Status": "200 OK", "Response Body": "",
                        "Number Deleted": 0, "Number Not Found": 1, "Errors": []}

    # not a manifest: nothing is deleted
    assert demo.request("PUT", "/lo/plain.txt", data=b"plain").status_code == 201
    r = demo.request("DELETE", "/lo/plain.txt?multipart-manifest=delete")
    assert r.status_code == 200
    assert r.text == ("Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \n"
                      "Response Status: 400 Bad Request\nErrors:\n"
                      "/lo/plain.txt, Not an SLO manifest\n")
    assert demo.request("GET", "/lo/plain.txt").content == b"plain"

    # a plain DELETE removes the manifest only
    assert demo.request("PUT", "/dsegs/keep", data=b"keep").status_code == 201
    assert put_manifest(demo, "/lo/del2.bin", [{"path": "/dsegs/keep"}]).status_code == 201
    assert demo.request("DELETE", "/lo/del2.bin").status_code == 204
    assert demo.names("dsegs") == ["keep"]


def test_slo_broken_segments(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    assert demo.request("PUT", "/segs/gone", data=b"soon gone").status_code == 201
    assert demo.request("PUT", "/segs/stays", data=b"stays").status_code == 201
    assert put_manifest(demo, "/lo/broken.bin", [{"path": "/segs/gone"},
                                                  {"path": "/segs/stays"}]).status_code == 201
    assert demo.request("DELETE", "/segs/gone").status_code == 204
    r = demo.request("GET", "/lo/broken.bin")
    assert r.status_code == 409
    # a segment replaced by different bytes is no longer valid either
    assert demo.request("PUT", "/segs/gone", data=b"other bytes").status_code == 201
    assert demo.request("GET", "/lo/broken.bin").status_code == 409
    assert demo.request("GET", "/lo/broken.bin", headers={"Range": "bytes=9-"}
                        ).content == b"stays"
    # a later segment gone: the headers are out, so the body is cut short
    assert demo.request("PUT", "/segs/first", data=b"F" * 300_000).status_code == 201
    assert demo.request("PUT", "/segs/later", data=b"later").status_code == 201
    assert put_manifest(demo, "/lo/cut.bin", [{"path": "/segs/first"},
                                               {"path": "/segs/later"}]).status_code == 201
    assert demo.request("DELETE", "/segs/later").status_code == 204
    r = demo.request("GET", "/lo/cut.bin", stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(300_005)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        r.content  # noqa: B018


def test_info_entries(strata_swift: StrataInstance) -> None:
    info = requests.get(strata_swift.proxy_url + "/info", timeout=30).json()
    assert info["slo"] == {"max_manifest_segments": 1000, "max_manifest_size": 8388608,
                           "yield_frequency": 10, "min_segment_size": 1,
                           "allow_async_delete": False}
    assert info["dlo"] == {}


# --- DLO over HTTP ----------------------------------------------------------------------------


def test_dlo_get_head_range(demo: SwiftUser) -> None:
    assert demo.request("PUT", "/dlosegs").status_code in (201, 202)
    parts = [os.urandom(n) for n in (300_001, 5, 260_000)]
    for i, data in enumerate(parts):
        assert demo.request("PUT", f"/dlosegs/obj/{i:04d}", data=data).status_code == 201
    assert demo.request("PUT", "/dlosegs/other", data=b"not mine").status_code == 201
    r = demo.request("PUT", "/lo/dlo.bin", data=b"",
                     headers={"X-Object-Manifest": "dlosegs/obj/", "Content-Type": "text/x-dlo"})
    assert r.status_code == 201
    whole = b"".join(parts)
    etag = md5("".join(md5(p) for p in parts).encode())

    r = demo.request("GET", "/lo/dlo.bin")
    assert r.status_code == 200
    assert r.content == whole
    assert r.headers["Etag"] == f'"{etag}"'
    assert r.headers["Content-Length"] == str(len(whole))
    assert r.headers["X-Object-Manifest"] == "dlosegs/obj/"
    assert r.headers["Content-Type"] == "text/x-dlo"
    h = demo.request("HEAD", "/lo/dlo.bin")
    assert (h.headers["Etag"], h.headers["Content-Length"]) == (f'"{etag}"', str(len(whole)))

    r = demo.request("GET", "/lo/dlo.bin", headers={"Range": "bytes=300000-300010"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 300000-300010/{len(whole)}"
    assert r.content == whole[300000:300011]
    r = demo.request("GET", "/lo/dlo.bin", headers={"Range": "bytes=-3"})
    assert r.content == whole[-3:]
    r = demo.request("GET", "/lo/dlo.bin", headers={"Range": f"bytes={len(whole)}-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(whole)}"
    # several ranges: Swift's DLO sends the whole object
    r = demo.request("GET", "/lo/dlo.bin", headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200
    assert r.content == whole
    assert demo.request("GET", "/lo/dlo.bin", headers={"If-None-Match": f'"{etag}"'}
                        ).status_code == 304

    r = demo.request("GET", "/lo/dlo.bin", params={"multipart-manifest": "get"})
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Etag"] == md5(b"")

    # segments added later are part of it
    assert demo.request("PUT", "/dlosegs/obj/0005", data=b"tail").status_code == 201
    assert demo.request("GET", "/lo/dlo.bin").content == whole + b"tail"


def test_dlo_bad_manifest_header(demo: SwiftUser) -> None:
    for value in ("nocontainer", "/prefix", "c/", "c/p?x", "c/p&y", "c//p"):
        r = demo.request("PUT", "/lo/badm", data=b"",
                         headers={"X-Object-Manifest": value})
        assert r.status_code == 400, value
        assert r.text == "X-Object-Manifest must be in the format container/prefix"
        assert_absent(demo, "/lo/badm")


def test_dlo_missing_segment_container_and_empty(demo: SwiftUser) -> None:
    r = demo.request("PUT", "/lo/nowhere", data=b"", headers={"X-Object-Manifest": "nosuch/p"})
    assert r.status_code == 201
    assert demo.request("GET", "/lo/nowhere").status_code == 404
    assert demo.request("PUT", "/emptysegs").status_code in (201, 202)
    r = demo.request("PUT", "/lo/empty", data=b"", headers={"X-Object-Manifest": "emptysegs/p"})
    assert r.status_code == 201
    r = demo.request("GET", "/lo/empty")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Etag"] == f'"{md5(b"")}"'


# --- the swift CLI ----------------------------------------------------------------------------


def write_pattern(path: Path, size: int) -> str:
    """A file of ``size`` bytes where every MiB differs (fast to make); returns its MD5."""
    block = bytearray(os.urandom(MiB))
    digest = hashlib.md5()
    with path.open("wb") as f:
        done = 0
        i = 0
        while done < size:
            block[:8] = i.to_bytes(8, "big")
            chunk = bytes(block[:min(MiB, size - done)])
            f.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            i += 1
    return digest.hexdigest()


@pytest.mark.parametrize("kind", ["slo", "dlo"])
def test_swift_cli_segmented_round_trip(strata_swift: StrataInstance, demo: SwiftUser,
                                        tmp_path: Path, kind: str) -> None:
    src = tmp_path / "file20m.bin"
    size = 20 * MiB + 123
    digest = write_pattern(src, size)
    container = f"cli-{kind}"
    flag = "--use-slo" if kind == "slo" else "--use-dlo"
    out = run_swift(strata_swift, "upload", "--segment-size", str(3 * MiB), flag, container,
                    src.name, cwd=tmp_path)
    assert src.name in out
    assert len(demo.names(f"{container}_segments")) == 7
    h = demo.request("HEAD", f"/{container}/{src.name}")
    assert h.headers["Content-Length"] == str(size)
    if kind == "slo":
        assert h.headers["X-Static-Large-Object"] == "True"
    else:
        assert h.headers["X-Object-Manifest"].startswith(f"{container}_segments/")
    assert swift_download_md5(strata_swift, container, src.name) == (digest, size)

    # a range in the middle, across the boundary of segments 2 and 3
    data = src.read_bytes()
    start = 6 * MiB - 1000
    r = demo.request("GET", f"/{container}/{src.name}",
                     headers={"Range": f"bytes={start}-{start + 2 * MiB}"})
    assert r.status_code == 206
    assert r.content == data[start:start + 2 * MiB + 1]

    run_swift(strata_swift, "delete", container, src.name)
    assert demo.names(container) == []
    assert demo.names(f"{container}_segments") == []


def test_swift_cli_one_gib_slo(strata_swift: StrataInstance, demo: SwiftUser,
                               tmp_path: Path) -> None:
    """The issue's case: 1 GiB in 100 MiB segments, byte-identical back."""
    src = tmp_path / "onegig.bin"
    size = 1 << 30
    digest = write_pattern(src, size)
    began = time.monotonic()
    run_swift(strata_swift, "upload", "--segment-size", "100M", "--use-slo", "gig",
              src.name, cwd=tmp_path, timeout=1200)
    uploaded = time.monotonic()
    assert len(demo.names("gig_segments")) == 11
    h = demo.request("HEAD", f"/gig/{quote(src.name)}")
    assert h.headers["Content-Length"] == str(size)
    assert swift_download_md5(strata_swift, "gig", src.name) == (digest, size)
    src.unlink()
    print(f"1 GiB SLO: upload {uploaded - began:.1f}s, download "
          f"{time.monotonic() - uploaded:.1f}s")
    run_swift(strata_swift, "delete", "gig", src.name)
    assert demo.names("gig_segments") == []


# -- issue 16: listings, part numbers, referrer ACLs ---------------------------------------

def test_slo_listed_with_its_slo_etag(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    slo_etag = md5("".join(md5(b) for b in segs.values()).encode())
    assert put_manifest(demo, "/lo/listed.bin", manifest(segs)).status_code == 201
    manifest_etag = demo.request("HEAD", "/lo/listed.bin").headers["X-Manifest-Etag"]
    [row] = demo.request("GET", "/lo", params={"format": "json", "prefix": "listed.bin"}
                         ).json()
    assert row["hash"] == manifest_etag and row["slo_etag"] == f'"{slo_etag}"'
    # plain objects list as before; XML carries Swift's five fields only
    assert "slo_etag" not in demo.request("GET", "/segs", params={"format": "json"}).json()[0]
    xml = demo.request("GET", "/lo", params={"format": "xml", "prefix": "listed.bin"}).text
    assert f"<hash>{manifest_etag}</hash>" in xml and "slo_etag" not in xml
    # after a POST the listing keeps both
    assert demo.request("POST", "/lo/listed.bin", headers={"Content-Type": "text/x-new"}
                        ).status_code == 202
    [row] = demo.request("GET", "/lo", params={"format": "json", "prefix": "listed.bin"}
                         ).json()
    assert (row["hash"], row["slo_etag"], row["content_type"]) == (
        manifest_etag, f'"{slo_etag}"', "text/x-new")
    assert row["bytes"] == sum(len(b) for b in segs.values())


def test_slo_part_number(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    whole = segs["s0"] + segs["s1"] + segs["s2"]
    slo_etag = md5("".join(md5(b) for b in segs.values()).encode())
    assert put_manifest(demo, "/lo/parts.bin", manifest(segs)).status_code == 201
    start = len(segs["s0"])
    end = start + len(segs["s1"]) - 1
    r = demo.request("GET", "/lo/parts.bin", params={"part-number": "2"})
    assert r.status_code == 206 and r.content == segs["s1"]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(whole)}"
    assert r.headers["X-Parts-Count"] == "3" and r.headers["Etag"] == f'"{slo_etag}"'
    h = demo.request("HEAD", "/lo/parts.bin", params={"part-number": "2"})
    assert h.status_code == 206
    assert h.headers["Content-Length"] == str(len(segs["s1"]))
    assert h.headers["Content-Range"] == f"bytes {start}-{end}/{len(whole)}"
    assert h.headers["X-Parts-Count"] == "3"
    r = demo.request("GET", "/lo/parts.bin", params={"part-number": "4"})
    assert r.status_code == 416 and r.text == "The requested part number is not satisfiable"
    assert r.headers["Content-Range"] == f"bytes */{len(whole)}"
    for bad in ("0", "-1", "two"):
        r = demo.request("GET", "/lo/parts.bin", params={"part-number": bad})
        assert r.status_code == 400, bad
        assert r.text == "Part number must be an integer greater than 0"
    r = demo.request("GET", "/lo/parts.bin", params={"part-number": "1"},
                     headers={"Range": "bytes=0-1"})
    assert r.status_code == 400
    assert r.text == "Range requests are not supported with part number queries"
    # COPY of one part makes an object of its bytes
    r = demo.request("COPY", "/lo/parts.bin?part-number=3",
                     headers={"Destination": "lo/part3.bin"})
    assert r.status_code == 201, r.text
    assert demo.request("GET", "/lo/part3.bin").content == segs["s2"]
    # an object that is not an SLO ignores it, as Swift's slo does
    assert demo.request("GET", "/segs/s1", params={"part-number": "7"}).content == segs["s1"]


def test_referrer_acls_reach_the_segments(strata_swift: StrataInstance,
                                          demo: SwiftUser) -> None:
    """The client's Referer goes with the segment subrequests of an SLO and a DLO."""
    # a DLO lists its segments' container: that needs .rlistings, as in Swift
    acl = {"X-Container-Read": ".r:.example.com,.rlistings"}
    for container in ("refsegs", "reflo"):
        assert demo.request("PUT", f"/{container}", headers=acl).status_code in (201, 202)
    parts = [os.urandom(1000), os.urandom(2000)]
    for i, data in enumerate(parts):
        assert demo.request("PUT", f"/refsegs/p{i}", data=data).status_code == 201
    assert put_manifest(demo, "/reflo/slo", [
        {"path": f"/refsegs/p{i}", "etag": md5(d), "size_bytes": len(d)}
        for i, d in enumerate(parts)]).status_code == 201
    assert demo.request("PUT", "/reflo/dlo", data=b"",
                        headers={"X-Object-Manifest": "refsegs/p"}).status_code == 201
    url = f"{demo.url}/reflo/"
    for name in ("slo", "dlo"):
        r = requests.get(url + name, headers={"Referer": "http://www.example.com/page"},
                         timeout=30)
        assert r.status_code == 200 and r.content == b"".join(parts), (name, r.status_code)
        assert requests.get(url + name, timeout=30).status_code == 401
        r = requests.get(url + name, headers={"Referer": "http://elsewhere.org/"}, timeout=30)
        assert r.status_code == 401


def test_slo_put_if_none_match(demo: SwiftUser, segs: dict[str, bytes]) -> None:
    """``If-None-Match: *`` holds for a manifest PUT as for a plain one: 412 when the
    name is taken (by a manifest or a plain object), 400 for any other value."""
    whole = b"".join(segs.values())
    star = {"If-None-Match": "*"}
    r = put_manifest(demo, "/lo/once.bin", manifest(segs), headers=star)
    assert r.status_code == 201, r.text
    r = put_manifest(demo, "/lo/once.bin", manifest(segs, ["s0"]), headers=star)
    assert r.status_code == 412, r.text
    assert demo.request("GET", "/lo/once.bin").content == whole
    r = put_manifest(demo, "/lo/once.bin", manifest(segs, ["s0"]),
                     headers={"If-None-Match": md5(whole)})
    assert r.status_code == 400 and r.text == "If-None-Match only supports *"
    assert demo.request("GET", "/lo/once.bin").content == whole
    # a plain object in the way counts as well
    assert demo.request("PUT", "/lo/plain-first", data=b"plain").status_code == 201
    r = put_manifest(demo, "/lo/plain-first", manifest(segs), headers=star)
    assert r.status_code == 412, r.text
    got = demo.request("GET", "/lo/plain-first")
    assert got.content == b"plain" and "X-Static-Large-Object" not in got.headers


def minor_faults(pid: int) -> int:
    """Page faults ``pid`` took that the kernel served without I/O (zeroed or
    cached pages): ``minflt``, field 10 of /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[7])


def test_streaming_segments_does_not_fault_the_proxy_heap_back_in(
        strata_swift: StrataInstance, demo: SwiftUser) -> None:
    """A segment read ahead while the one before it is sent is a burst of buffered
    chunks the proxy frees once sent. glibc's defaults gave that memory back and
    faulted it in again for the next segment: thousands of page faults per GET
    of a 64 MiB multipart object, a third of the proxy's CPU for it. With the
    services' allocator settings (common.allocator) the bursts reuse the heap."""
    [proxy] = strata_swift.service_pids("proxy")
    assert demo.request("PUT", "/heap").status_code in (201, 202)
    parts = [os.urandom(2 * MiB) for _ in range(6)]
    for i, body in enumerate(parts):
        assert demo.request("PUT", f"/heap/p{i}", data=body).status_code == 201
    assert put_manifest(demo, "/heap/slo", [
        {"path": f"/heap/p{i}", "etag": md5(b), "size_bytes": len(b)}
        for i, b in enumerate(parts)]).status_code == 201
    whole = b"".join(parts)
    for _ in range(3):  # the proxy's heap grows to its working size
        assert demo.request("GET", "/heap/slo").content == whole
    before = minor_faults(proxy)
    for _ in range(5):
        assert demo.request("GET", "/heap/slo").content == whole
    per_get = (minor_faults(proxy) - before) / 5
    # 12 MiB read through the proxy each time: 3,072 pages if each were new
    assert per_get < 100, per_get
