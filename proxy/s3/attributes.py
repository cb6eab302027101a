"""GetObjectAttributes: what a HEAD of the object (or of one version) tells, as S3's
``GetObjectAttributesResponse``: ETag, ObjectSize, StorageClass, the checksum it was
stored with and, for a multipart object, its number of parts.

The HEAD is HeadObject's own (``objects.get_object`` / ``versions.get_version``), so
access, versions, delete markers and missing keys are answered exactly as there.
"""

from __future__ import annotations

from dataclasses import replace

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.pipeline import SwiftResponse
from proxy.s3 import objects, versions
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request

HEADER = "x-amz-object-attributes"
ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
CHECKSUM_PREFIX = "x-amz-checksum-"


def wanted(req: S3Request) -> set[str]:
    """The attributes asked for; InvalidArgument for none or one S3 does not have."""
    names = {a.strip() for a in req.headers.get(HEADER, "").split(",") if a.strip()}
    if not names:
        raise S3Error("InvalidArgument", "x-amz-object-attributes header specifying the "
                      "attributes to be retrieved is either missing or empty",
                      ArgumentName=HEADER)
    unknown = sorted(names - set(ATTRIBUTES))
    if unknown:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.",
                      ArgumentName=HEADER, ArgumentValue=unknown[0])
    return names


async def get_object_attributes(req: S3Request) -> SwiftResponse:
    names = wanted(req)
    headers = CIMultiDict(req.headers)
    headers["x-amz-checksum-mode"] = "ENABLED"
    for h in ("Range", "If-Match", "If-None-Match", "If-Modified-Since",
              "If-Unmodified-Since"):
        headers.popall(h, None)
    # HeadObject (of the version): the operation is parsed again from method and query
    query = {k: v for k, v in req.query.items() if k in ("versionId",)}
    head = replace(req, method="HEAD", query=query, headers=CIMultiDictProxy(headers))
    r = await (versions.get_version(head) if req.op.version_id
               else objects.get_object(head))
    await r.close()
    etag = r.headers.get("ETag", "").strip('"')
    doc = x.root("GetObjectAttributesResponse")
    if "ETag" in names:
        x.add(doc, "ETag", etag)
    if "Checksum" in names:
        found = [(k.lower()[len(CHECKSUM_PREFIX):], v) for k, v in r.headers.items()
                 if k.lower().startswith(CHECKSUM_PREFIX) and k.lower() != "x-amz-checksum-mode"]
        if found:
            checksum = x.add(doc, "Checksum")
            for algorithm, value in found:
                x.add(checksum, "Checksum" + algorithm.upper(), value)
    if "ObjectParts" in names:
        count = etag.rpartition("-")[2] if "-" in etag else ""
        if count.isdigit():
            x.add(x.add(doc, "ObjectParts"), "PartsCount", count)
    if "StorageClass" in names:
        x.add(doc, "StorageClass", "STANDARD")
    if "ObjectSize" in names:
        x.add(doc, "ObjectSize", r.headers.get("Content-Length", "0"))
    out = x.response(doc)
    for h in ("Last-Modified", "x-amz-version-id"):
        if h in r.headers:
            out.headers[h] = r.headers[h]
    return out
