"""What several S3 handler modules write alike: a leaf that imports none of them.

ETags and owners as S3 shows them, an object's headers as Swift keeps them, the
checksum a write was checked with, a listing's common arguments and a copy's
source. Handler modules (``buckets``, ``objects``, ``uploads``, ``versions``,
...) import this; it imports only the request, the XML helpers and the errors.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from proxy.s3 import checksums
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error
from proxy.s3.operation import COPY_SOURCE
from proxy.s3.request import S3Request

# The object headers S3 and Swift both keep with an object.
OBJECT_HEADERS = ("Content-Type", "Content-Encoding", "Content-Disposition",
                  "Content-Language", "Cache-Control", "Expires")


def quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def owner(req: S3Request, parent: Any, tag: str = "Owner") -> None:
    """An ``<Owner>`` (or ``tag``) element naming the caller's project."""
    info = req.caller.info
    el = x.add(parent, tag)
    x.add(el, "ID", info.project_id if info else "")
    x.add(el, "DisplayName", (info.project_name or "") if info else "")


def meta_headers(req: S3Request) -> dict[str, str]:
    """``x-amz-meta-*`` as ``X-Object-Meta-*``, and the object headers, of a write."""
    out = {}
    for k, v in req.headers.items():
        if k.lower().startswith("x-amz-meta-"):
            out["X-Object-Meta-" + k[len("x-amz-meta-"):]] = v
    for name in OBJECT_HEADERS:
        if name in req.headers:
            out[name] = req.headers[name]
    return out


def checksum_sysmeta(req: S3Request) -> dict[str, str]:
    """System metadata keeping the body's checked checksum (when its value is known)."""
    c = req.checksum
    return checksums.stored(c.algorithm, c.value) if c is not None and c.value else {}


def checksum_echo(req: S3Request) -> dict[str, str]:
    """``x-amz-checksum-<alg>`` of the stored body, as S3 answers a write."""
    c = req.checksum
    return {checksums.header_name(c.algorithm): c.value} if c is not None and c.value else {}


def swift_marker(marker: str, prefix: str, delimiter: str) -> str:
    """A marker that is a rolled-up prefix (``a/``) skips everything under it."""
    if delimiter and marker.startswith(prefix) and marker.endswith(delimiter) \
            and delimiter in marker[len(prefix):]:
        return marker + "\U0010ffff"
    return marker


@dataclass(frozen=True)
class ListingArgs:
    """What every S3 listing takes: ``prefix``, ``delimiter`` and ``encoding-type``."""

    prefix: str
    delimiter: str
    encoding: str | None

    @property
    def enc(self) -> Callable[[str], str]:
        """How the listing writes keys and prefixes (see ``xmlutil.encoder``)."""
        return x.encoder(self.encoding)


def listing_args(query: Mapping[str, str]) -> ListingArgs:
    """A listing's common arguments; InvalidArgument for an encoding S3 does not have."""
    encoding = query.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    return ListingArgs(query.get("prefix", ""), query.get("delimiter", ""), encoding)


def copy_source(req: S3Request) -> tuple[str, str, str]:
    """(bucket, key, version id or "") of ``x-amz-copy-source``; InvalidArgument when it
    does not name both a bucket and a key."""
    raw = req.headers[COPY_SOURCE]
    path, _, version_id = raw.partition("?versionId=")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key: "
                      "sourcebucket/sourcekey", ArgumentName="x-amz-copy-source",
                      ArgumentValue=raw)
    return bucket, key, version_id


# -- long values in container sysmeta ---------------------------------------------------

PIECE = 4000  # a container HEAD carries sysmeta as headers, which must stay short


def pack(prefix: str, text: str, max_pieces: int) -> dict[str, str] | None:
    """``text`` as sysmeta headers ``<prefix><n>`` (zlib, base64, pieces of at most
    :data:`PIECE` characters) and ``<prefix>Count``; None when it needs more than
    ``max_pieces`` pieces."""
    packed = base64.b64encode(zlib.compress(text.encode(), 6)).decode()
    pieces = [packed[i:i + PIECE] for i in range(0, len(packed), PIECE)]
    if len(pieces) > max_pieces:
        return None
    out = {f"{prefix}{i}": p for i, p in enumerate(pieces)}
    out[prefix + "Count"] = str(len(pieces))
    return out


def unpack(lowered: Mapping[str, str], prefix: str) -> str | None:
    """What :func:`pack` stored under ``prefix``, from headers with lower-case names;
    None when there is nothing (or it is unreadable)."""
    low = prefix.lower()
    try:
        count = int(lowered.get(low + "count", "0") or 0)
        if not count:
            return None
        packed = "".join(lowered[f"{low}{i}"] for i in range(count))
        return zlib.decompress(base64.b64decode(packed)).decode()
    except (KeyError, ValueError, zlib.error, binascii.Error, UnicodeDecodeError):
        return None


def unpacked(prefix: str, headers: Mapping[str, str]) -> dict[str, str]:
    """Headers that remove every piece under ``prefix`` that ``headers`` show."""
    out = {prefix + "Count": ""}
    for k in headers:
        if k.lower().startswith(prefix.lower()):
            out[k] = ""
    return out
