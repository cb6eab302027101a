"""CompleteMultipartUpload: the client's part list checked against the stored parts,
then the object written as a Static Large Object manifest (see ``multipart``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from common.errors import StrataError
from common.http import ApiError
from proxy.pipeline import BodyTooLarge, SwiftResponse
from proxy.s3 import checksums, locking, preconditions, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, as_s3, error_xml, from_swift_status
from proxy.s3.multipart import (
    CONCURRENCY,
    OVERRIDE_ETAG,
    PART_TYPE,
    SYSMETA_ETAG,
    SYSMETA_UPLOAD_ID,
    Part,
    Upload,
    composite_etag,
    delete_names,
    drop_superseded,
    load_upload,
    marker_name,
    normalize_etag,
    s3_etag,
    segments_container,
    stored_parts,
    superseded_upload,
    upload_id_of,
)
from proxy.s3.request import S3Request

MIN_PART_SIZE = 5 << 20
MAX_COMPLETE_BODY = 4 << 20
FIRST_WAIT = 5.0  # seconds Complete may take before its answer starts as a 200 ...
HEARTBEAT = 10.0  # ... kept alive by a space this often until the result follows


@dataclass
class Chosen:
    number: int
    etag: str
    checksums: dict[str, str]


def parse_complete(body: bytes) -> list[Chosen]:
    """The client's part list: MalformedXML, or InvalidPartOrder when not ascending."""
    doc = x.parse(body)
    if doc.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    out: list[Chosen] = []
    for el in doc:
        if el.tag != "Part":
            continue
        number, etag = (el.findtext("PartNumber") or "").strip(), el.findtext("ETag")
        if not number.isdigit() or etag is None:
            raise S3Error("MalformedXML")
        sums = {alg: (el.findtext("Checksum" + alg) or "").strip()
                for alg in checksums.ALGORITHMS if el.find("Checksum" + alg) is not None}
        out.append(Chosen(int(number), normalize_etag(etag), sums))
    if not out:
        raise S3Error("MalformedXML")
    for before, after in itertools.pairwise(out):
        if after.number <= before.number:
            raise S3Error("InvalidPartOrder")
    return out


async def _check_checksums(req: S3Request, container: str, chosen: list[Chosen],
                           parts: dict[int, Part], upload: Upload) -> tuple[str, str] | None:
    """Checksums the client lists must be those the parts were stored with (if any).

    When every part was stored with the upload's algorithm and the client listed
    each, the object's composite checksum (of the parts' checksums, ``-<N>``)."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(c: Chosen) -> str | None:
        """The part's checked checksum in the upload's algorithm, if any."""
        async with limit:
            r = await req.call("HEAD", container, parts[c.number].name)
            await r.close()
        if not r.ok:
            raise S3Error("InvalidPart", UploadId=upload.upload_id)
        stored = checksums.response_headers(r.headers)
        if not stored:
            return None
        (header, value), = stored.items()
        algorithm = header[len(checksums.HEADER_PREFIX):].upper()
        if any(alg != algorithm or got != value for alg, got in c.checksums.items()):
            raise S3Error("InvalidPart", UploadId=upload.upload_id, PartNumber=str(c.number))
        return value if algorithm == upload.checksum_algorithm else None

    listed = [c for c in chosen if c.checksums]
    values = await asyncio.gather(*(one(c) for c in listed))
    algorithm = upload.checksum_algorithm
    if algorithm is None or len(listed) != len(chosen) or any(v is None for v in values):
        return None
    digest = checksums.new_hasher(algorithm)
    for v in values:
        digest.update(base64.b64decode(v or ""))
    return algorithm, f"{checksums.encode(digest.digest())}-{len(values)}"


async def complete(req: S3Request) -> SwiftResponse:
    assert req.bucket is not None and req.key is not None
    upload_id = upload_id_of(req)
    try:
        body = await req.body.read_all(MAX_COMPLETE_BODY)
    except BodyTooLarge:
        raise S3Error("MalformedXML") from None
    chosen = parse_complete(body)
    expected = await preconditions.expectation(req)
    try:
        upload = await load_upload(req, upload_id)
    except S3Error as err:
        if err.code == "NoSuchUpload":
            again = await _already_completed(req, upload_id)
            if again is not None:
                return again
        raise
    container = segments_container(req.bucket)
    parts = await stored_parts(req, req.key, upload_id)
    for c in chosen:
        p = parts.get(c.number)
        if p is None or normalize_etag(p.etag) != c.etag:
            raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=str(c.number),
                          ETag=c.etag)
    for c in chosen[:-1]:
        p = parts[c.number]
        if p.size < MIN_PART_SIZE:
            raise S3Error("EntityTooSmall", ProposedSize=str(p.size),
                          MinSizeAllowed=str(MIN_PART_SIZE), PartNumber=str(c.number),
                          ETag=c.etag)
    checksum = await _check_checksums(req, container, chosen, parts, upload)
    etag = composite_etag(parts[c.number].etag for c in chosen)
    task = asyncio.ensure_future(_finish(req, upload, [parts[c.number] for c in chosen],
                                         parts, etag, checksum, expected))
    task.add_done_callback(_retrieve)
    done, _ = await asyncio.wait({task}, timeout=FIRST_WAIT)
    if done:
        doc, version = task.result()
        resp = x.response(doc)
        resp.headers.update(version)
        return resp
    # taking long (many segments to check): answer 200 now, the outcome follows
    return SwiftResponse.of(200, {"Content-Type": x.CONTENT_TYPE}, _late(req, task))


Finished = tuple[ET.Element, dict[str, str]]  # the result document, version headers


def _retrieve(task: asyncio.Future[Finished]) -> None:
    if not task.cancelled():
        task.exception()


async def _late(req: S3Request, task: asyncio.Future[Finished]) -> AsyncIterator[bytes]:
    """The answer of a Complete that took long: spaces, then its result or its error."""
    yield x.DECLARATION
    while not task.done():
        await asyncio.wait({task}, timeout=HEARTBEAT)
        if not task.done():
            yield b" "
    try:
        doc, _ = task.result()  # too late for headers: the version id is not sent
    except (StrataError, ApiError) as err:  # S3's error document, in the 200 already sent
        yield error_xml(as_s3(err), req.resource, req.txn)[len(x.DECLARATION):]
        return
    yield bytes(ET.tostring(doc, encoding="utf-8"))


def _result(req: S3Request, etag: str, checksum: tuple[str, str] | None) -> ET.Element:
    assert req.bucket is not None and req.key is not None
    doc = x.root("CompleteMultipartUploadResult")
    host = req.headers.get("Host", "")
    path = "/" + quote(req.bucket, safe="") + "/" + quote(req.key)
    x.add(doc, "Location", f"http://{host}{path}" if host else path)
    x.add(doc, "Bucket", req.bucket)
    x.add(doc, "Key", req.key)
    x.add(doc, "ETag", f'"{etag}"')
    if checksum is not None:
        x.add(doc, "Checksum" + checksum[0], checksum[1])
    return doc


async def _already_completed(req: S3Request, upload_id: str) -> SwiftResponse | None:
    """A Complete retried after it succeeded gets the same answer again."""
    r = await req.call("HEAD", req.bucket, req.key)
    await r.close()
    etag = s3_etag(r.headers) if r.ok else None
    if etag is None or r.headers.get(SYSMETA_UPLOAD_ID) != upload_id:
        return None
    stored = checksums.response_headers(r.headers)
    checksum = next(((k[len(checksums.HEADER_PREFIX):].upper(), v)
                     for k, v in stored.items()), None)
    return x.response(_result(req, etag, checksum))


async def _put_manifest(req: S3Request, container: str | None, obj: str,
                        segments: list[dict[str, Any]], headers: dict[str, str],
                        upload_id: str, expected: dict[str, str] | None = None
                        ) -> Mapping[str, str]:
    """PUT an SLO manifest; the answer's headers. InvalidPart when a segment is not as
    listed; ``expected``: what a conditional Complete expects to replace."""
    r = await req.call("PUT", container, obj, headers={**headers, "Accept": "application/json",
                                                       **(expected or {})},
                       query={"multipart-manifest": "put"}, body=json.dumps(segments).encode())
    await r.read()
    if r.status == 400 and r.headers.get("Content-Type", "").startswith("application/json"):
        raise S3Error("InvalidPart", UploadId=upload_id)
    if r.status == 404:
        raise S3Error("NoSuchBucket", BucketName=req.bucket or "")
    if not r.ok:
        raise preconditions.lost_race(expected or {}, r.status) or \
            from_swift_status(r.status)
    return r.headers


async def _finish(req: S3Request, upload: Upload, chosen: list[Part], stored: dict[int, Part],
                  etag: str, checksum: tuple[str, str] | None,
                  expected: dict[str, str]) -> Finished:
    """Write the manifest (sub-manifests first when there are many parts), then clean up."""
    assert req.bucket is not None and req.key is not None
    container = segments_container(req.bucket)
    segments = [{"path": f"/{container}/{p.name}", "etag": p.etag, "size_bytes": p.size}
                for p in chosen]
    per = max(1, req.st.cfg.proxy.slo_max_manifest_segments)
    if len(segments) > per:
        subs: list[dict[str, Any]] = []
        for i in range(0, len(segments), per):
            name = f"{upload.key}/{upload.upload_id}/m{i // per}"
            await _put_manifest(req, container, name, segments[i:i + per],
                                {"Content-Type": PART_TYPE}, upload.upload_id)
            subs.append({"path": f"/{container}/{name}", "etag": None, "size_bytes": None})
        segments = subs
    headers = {**upload.headers, SYSMETA_ETAG: etag, SYSMETA_UPLOAD_ID: upload.upload_id,
               OVERRIDE_ETAG: etag, **(checksums.stored(*checksum) if checksum else {})}
    cfg = await versioning.before_write(req, req.key)
    replaced = await superseded_upload(req, req.key, cfg)
    written = await _put_manifest(req, req.bucket, req.key, segments, headers,
                                  upload.upload_id, expected)
    await locking.lock_segments(req, container, [p.name for p in chosen], headers)
    if replaced != upload.upload_id:
        await drop_superseded(req, req.key, replaced)
    r = await req.call("DELETE", container, marker_name(upload.key, upload.upload_id))
    await r.close()
    used = {p.number for p in chosen}
    with contextlib.suppress(S3Error):
        await delete_names(req, container,
                            [p.name for n, p in stored.items() if n not in used])
    return _result(req, etag, checksum), versioning.written(cfg, written)

