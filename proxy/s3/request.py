"""An S3 request as the handlers see it, and its Swift subrequests."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from proxy.auth import RESELLER_PREFIX, Caller
from proxy.pipeline import Body, BytesBody, SwiftRequest, SwiftResponse
from proxy.request import SwiftPath
from proxy.s3.checksums import Declared
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.operation import Operation, parse
from proxy.state import Info, ProxyState

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def split_path(raw_path: str) -> tuple[str | None, str | None]:
    """(bucket, key) from a path-style ``/<bucket>/<key>`` (either may be None)."""
    raw = raw_path.split("?", 1)[0].lstrip("/")
    if not raw:
        return None, None
    bucket, _, key = raw.partition("/")
    return unquote(bucket), (unquote(key) if key else None)


@functools.lru_cache(maxsize=1024)
def _quoted(name: str) -> str:
    """An account's or container's name as a path segment (the same few, every request)."""
    return quote(name, safe="")


def copy_from(container: str, obj: str) -> str:
    """``X-Copy-From`` naming ``container/obj``."""
    return "/" + quote(container, safe="") + "/" + quote(obj)


def valid_new_bucket(name: str) -> bool:
    """S3's rules for a new bucket's name."""
    if not _BUCKET_RE.fullmatch(name) or ".." in name or ".-" in name or "-." in name:
        return False
    try:
        ipaddress.IPv4Address(name)
        return False
    except ValueError:
        return True


def content_md5(headers: CIMultiDictProxy[str]) -> str | None:
    """Content-MD5 as hex (what Swift checks as the ETag), or None; InvalidDigest when it
    is not the base64 of 16 bytes."""
    raw = headers.get("Content-MD5")
    if raw is None:
        return None
    try:
        digest = base64.b64decode(raw, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise S3Error("InvalidDigest", **{"Content-MD5": raw})
    return digest.hex()


def check_content_md5(headers: CIMultiDictProxy[str], body: bytes) -> None:
    """BadDigest when a body read whole does not match its Content-MD5."""
    want = content_md5(headers)
    if want is not None and hashlib.md5(body).hexdigest() != want:
        raise S3Error("BadDigest")


def swift_request(method: str, account: str, container: str | None, obj: str | None, *,
                  caller: Caller, txn: str, remote: str, headers: dict[str, str] | None = None,
                  query: dict[str, str] | None = None, body: Body | None = None,
                  content_length: int | None = None,
                  env: dict[str, Any] | None = None) -> SwiftRequest:
    """The Swift subrequest an S3 request makes on ``account`` (marked as the S3
    front's: it enters the pipeline below the features that run before s3api)."""
    raw = "/v1/" + _quoted(account) + ("/" + _quoted(container) if container else "") + \
        ("/" + quote(obj, safe="") if obj else "")
    return SwiftRequest(
        method=method, path=SwiftPath("v1", account, container, obj),
        headers=CIMultiDict(headers or {}), query=MultiDict(query or {}),
        body=body or BytesBody(), content_length=content_length, caller=caller,
        txn=txn, remote=remote, env={"raw_path": raw, "s3": True, **(env or {})})


@dataclass
class S3Request:
    st: ProxyState
    method: str
    bucket: str | None
    key: str | None
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    caller: Caller
    txn: str
    remote: str
    body: Body = field(default_factory=BytesBody)
    content_length: int | None = None
    # The x-amz-checksum-* the body was declared with, checked as it is read: its
    # value is known up front, except for a trailer on a body too large to buffer.
    checksum: Declared | None = None
    # How the request came: over TLS, and how it was signed (``REST-HEADER``,
    # ``REST-QUERY-STRING`` or ``POST``; "" anonymous) with which algorithm
    # (``AWS4-HMAC-SHA256`` or ``AWS``): what bucket policies may ask of it.
    secure: bool = False
    auth_type: str = ""
    signature_version: str = ""
    # The account holding the bucket when it is not the caller's own (found in the
    # bucket registry, proxy/s3/registry.py), and what the subrequests' env carries
    # besides (e.g. a pre-authorization the S3 ACLs granted).
    bucket_account: str | None = None
    env: dict[str, Any] = field(default_factory=dict)
    # What the handler modules work out from the request once (by a key of their own).
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # The operation, when the front already knows it (a browser upload: its key is
    # in its form, not its path); otherwise parsed from the request on first use.
    operation: Operation | None = None

    # Worked out once, on first use (each is read several times a request).
    _op: Operation | None = field(default=None, init=False, repr=False, compare=False)
    _own: str | None = field(default=None, init=False, repr=False, compare=False)
    _info: tuple[str, Info] | None = field(default=None, init=False, repr=False,
                                          compare=False)

    @property
    def op(self) -> Operation:
        """The operation the request asks for (``operation.parse``: parsed on first use,
        which is dispatch's first step; the S3 error refusing it otherwise)."""
        op = self._op
        if op is None:
            op = self._op = self.operation or parse(self.method, self.bucket, self.key,
                                                    self.query, self.headers)
        return op

    @property
    def own_account(self) -> str:
        """The caller's own account; AccessDenied for an anonymous caller."""
        own = self._own
        if own is None:
            info = self.caller.info
            if info is None or not info.project_id:
                raise S3Error("AccessDenied")
            own = self._own = RESELLER_PREFIX + info.project_id
        return own

    @property
    def account(self) -> str:
        """The account the request acts on: the bucket's owner's, else the caller's."""
        if self.bucket_account is not None:
            return self.bucket_account
        return self.own_account

    async def bucket_info(self) -> Info:
        """The bucket's container HEAD on :attr:`account` (the proxy's cached one), asked
        once a request: routing and the versioning state both read it."""
        account = self.account
        memo = self._info
        if memo is not None and memo[0] == account:
            return memo[1]
        info = await self.st.info(self.txn, account, self.bucket)
        self._info = (account, info)
        return info

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}" + (f"/{self.key}" if self.key is not None else "")

    def swift(self, method: str, container: str | None = None, obj: str | None = None, *,
              headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
              body: Body | bytes | None = None,
              content_length: int | None = None) -> SwiftRequest:
        """A Swift request on the caller's account, run through the whole pipeline."""
        if isinstance(body, bytes):
            content_length = len(body)
            body = BytesBody(body)
        return swift_request(method, self.account, container, obj, caller=self.caller,
                             txn=self.txn, remote=self.remote, headers=headers, query=query,
                             body=body, content_length=content_length, env=self.env)

    async def call(self, method: str, container: str | None = None, obj: str | None = None,
                   **kw: object) -> SwiftResponse:
        req = self.swift(method, container, obj, **kw)  # type: ignore[arg-type]
        return await self.st.pipeline.call_s3(req)

    async def head_bucket(self, bucket: str | None = None) -> SwiftResponse:
        """The bucket's (closed) HEAD answer; NoSuchBucket naming it when it is missing,
        the Swift status's S3 error when the HEAD fails otherwise."""
        name = bucket if bucket is not None else self.bucket
        r = await self.call("HEAD", name)
        await r.close()
        if not r.ok:
            raise self.bucket_failed(r.status, name)
        return r

    def bucket_failed(self, status: int, bucket: str | None = None) -> S3Error:
        """The S3 error for a failed Swift request on the bucket (``bucket``: another):
        NoSuchBucket naming it for a 404."""
        if status == 404:
            name = bucket if bucket is not None else self.bucket
            return S3Error("NoSuchBucket", BucketName=name or "")
        return from_swift_status(status, bucket=True)

    async def head_object(self) -> SwiftResponse:
        """The object's (closed) HEAD answer; NoSuchKey or NoSuchBucket when it is
        missing, the Swift status's S3 error when the HEAD fails otherwise."""
        r = await self.call("HEAD", self.bucket, self.key)
        await r.close()
        if r.status == 404:
            raise await self.missing()
        if not r.ok:
            raise from_swift_status(r.status, key=True)
        return r

    async def listing(self, container: str | None, query: dict[str, str], *,
                      missing_ok: bool = True) -> list[Any]:
        """One page of a JSON listing of ``container`` (None: the account): empty when
        there is nothing (or, ``missing_ok``, no such container), the Swift status's S3
        error when it fails."""
        r = await self.call("GET", container, query={"format": "json", **query})
        data = await r.read()
        if r.status == 204 or (missing_ok and r.status == 404):
            return []
        if not r.ok:
            raise from_swift_status(r.status)
        return list(json.loads(data or b"[]"))

    async def missing(self) -> S3Error:
        """NoSuchKey, or NoSuchBucket when the bucket is what is missing."""
        r = await self.call("HEAD", self.bucket)
        await r.close()
        if r.status == 404:
            return S3Error("NoSuchBucket", BucketName=self.bucket or "")
        return S3Error("NoSuchKey", Key=self.key or "")
