"""Browser-based uploads (POST Object): a ``multipart/form-data`` POST to a bucket.

The form's fields come first and are read whole (at most :data:`MAX_FIELDS`
bytes); the ``file`` field must be the last one that counts, and is streamed
into the object. The request is made into a PutObject of the form's key:

1. who signed: the policy's signature is checked as any S3 signature, by identity
   (``auth.verify``): SigV4 (``x-amz-algorithm``, ``x-amz-credential``,
   ``x-amz-date``, ``x-amz-signature``: the HMAC of the base64 policy with the
   scope's signing key) or SigV2 (``AWSAccessKeyId``, ``signature``). A form
   without them is anonymous (and needs no policy).
2. the policy (``postpolicy``): not expired, every condition met, no field it does
   not name; the file's size within its content-length-range, checked as the file
   arrives (a file over it stops the upload: nothing is stored).
3. the bucket's policy and ACLs decide it as a PutObject (``routing``, ``access``),
   then it is written as PutObject writes (``objects.store``), with the form's
   Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Expires,
   ``x-amz-meta-*``, ``acl``, ``tagging`` (a Tagging XML document) and other
   ``x-amz-*`` fields as its headers.

The answer is ``success_action_redirect``'s 303, else ``success_action_status``'s
200, 201 (with its ``PostResponse`` XML) or 204 (the default).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
from aiohttp import BodyPartReader, web
from multidict import CIMultiDict, CIMultiDictProxy

from common import sigv4
from proxy.auth import Caller
from proxy.pipeline import Body, BytesBody, SwiftResponse
from proxy.s3 import auth, objects, postpolicy, tagging, versioning
from proxy.s3 import xmlutil as x
from proxy.s3.body import BUFFER_LIMIT, CheckedBody
from proxy.s3.errors import S3Error
from proxy.s3.operation import Op, Operation
from proxy.s3.request import S3Request
from proxy.s3.shared import quoted
from proxy.state import ProxyState

FORM_TYPE = "multipart/form-data"
MAX_FIELDS = 20 << 10  # the fields before the file, as S3 bounds them
MAX_KEY = 1024
CHUNK = 64 << 10
FORM_MEMO = "postobject.form"  # S3Request.memo: the Form
# Form fields that become the object's headers as they are.
OBJECT_FIELDS = ("Cache-Control", "Content-Disposition", "Content-Encoding", "Expires",
                 "Content-MD5")
# x-amz-* fields that sign the form, not the object.
AUTH_FIELDS = frozenset({"x-amz-algorithm", "x-amz-credential", "x-amz-date",
                         "x-amz-signature", "x-amz-security-token"})
# Headers of the POST itself that bucket policies may ask about.
REQUEST_HEADERS = ("Host", "Referer", "User-Agent", "Origin")


@dataclass(frozen=True)
class Form:
    """What the answer needs from the form."""

    status: str  # success_action_status
    redirect: str  # success_action_redirect (or redirect)
    location: str  # the new object's URL


def is_upload(method: str, key: str | None, raw_query: str,
              headers: Mapping[str, str]) -> bool:
    """Is this a browser upload (a form POSTed to a bucket)?"""
    return method == "POST" and key is None and not raw_query and \
        headers.get("Content-Type", "").lower().startswith(FORM_TYPE)


def _missing(name: str) -> S3Error:
    return S3Error("InvalidArgument", f"Bucket POST must contain a field named '{name}'.  "
                   "If it is specified, please check the order of the fields.",
                   ArgumentName=name, ArgumentValue="")


async def _read_fields(request: web.Request) -> tuple[dict[str, str], BodyPartReader]:
    """The fields before the file (lower-case names, the first of a repeated one) and
    the file's part; S3's error for a form that is not one."""
    try:
        reader = await request.multipart()
        fields: dict[str, str] = {}
        size = 0
        while True:
            part = await reader.next()
            if part is None:
                raise S3Error("IncorrectNumberOfFilesInPostRequest")
            if not isinstance(part, BodyPartReader):
                raise S3Error("MalformedPOSTRequest")
            name = (part.name or "").lower()
            if name == "file":
                return fields, part
            data = bytearray()
            while chunk := await part.read_chunk(CHUNK):
                data += chunk
                size += len(chunk)
                if size > MAX_FIELDS:
                    raise S3Error("MaxPostPreDataLengthExceededError")
            fields.setdefault(name, data.decode("utf-8", errors="replace"))
    except (ValueError, RuntimeError, AssertionError, aiohttp.ClientPayloadError):
        raise S3Error("MalformedPOSTRequest") from None


def signed_claim(fields: Mapping[str, str], regions: tuple[str, ...]) -> auth.Signed | None:
    """The form's signature claim over its policy (None: an anonymous form); the S3
    error for a signature half given."""
    policy = fields.get("policy")
    if any(f in fields for f in ("x-amz-algorithm", "x-amz-credential", "x-amz-signature")):
        algorithm = fields.get("x-amz-algorithm")
        if algorithm is None:
            raise _missing("x-amz-algorithm")
        if algorithm != sigv4.ALGORITHM:
            raise S3Error("InvalidArgument", "POST authentication only supports "
                          f"{sigv4.ALGORITHM}", ArgumentName="x-amz-algorithm",
                          ArgumentValue=algorithm)
        for name in ("x-amz-credential", "x-amz-date", "x-amz-signature", "policy"):
            if not fields.get(name):
                raise _missing(name)
        amz_date = fields["x-amz-date"]
        try:
            sigv4.parse_amz_date(amz_date)
        except ValueError:
            raise S3Error("InvalidArgument", "x-amz-date is not an ISO 8601 basic time.",
                          ArgumentName="x-amz-date", ArgumentValue=amz_date) from None
        access, scope = auth.credential_scope(fields["x-amz-credential"], amz_date, regions)
        return auth.Signed(access, fields["policy"], fields["x-amz-signature"], scope=scope)
    if "awsaccesskeyid" in fields or "signature" in fields:
        for name in ("awsaccesskeyid", "signature", "policy"):
            if not fields.get(name):
                raise _missing("AWSAccessKeyId" if name == "awsaccesskeyid" else name)
        return auth.Signed(fields["awsaccesskeyid"], fields["policy"], fields["signature"])
    if policy is not None:
        raise _missing("x-amz-signature")  # a policy nobody signed
    return None


def _object_key(fields: Mapping[str, str], filename: str | None) -> str:
    key = fields.get("key")
    if key is None:
        raise _missing("key")
    if "${filename}" in key:  # the file's own name, without any client-side path
        base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        key = key.replace("${filename}", base)
    if not key:
        raise S3Error("InvalidArgument", "User key must have a length greater than 0.",
                      ArgumentName="key", ArgumentValue="")
    if len(key.encode()) > MAX_KEY:
        raise S3Error("KeyTooLongError", "Your key is too long", Size=str(len(key.encode())),
                      MaxSizeAllowed=str(MAX_KEY))
    return key


def _headers(fields: Mapping[str, str], request: web.Request) -> CIMultiDictProxy[str]:
    """The object's headers from the form, as a PutObject would carry them."""
    out: CIMultiDict[str] = CIMultiDict()
    for name in REQUEST_HEADERS:
        if name in request.headers:
            out[name] = request.headers[name]
    out["Content-Type"] = fields.get("content-type") or "binary/octet-stream"
    for name in OBJECT_FIELDS:
        if name.lower() in fields:
            out[name] = fields[name.lower()]
    for name, value in fields.items():
        if name.startswith("x-amz-") and name not in AUTH_FIELDS:
            out[name] = value
    if "acl" in fields:
        out["x-amz-acl"] = fields["acl"]
    if "tagging" in fields:  # a Tagging XML document, as PutObjectTagging's body
        tags = tagging.from_xml(fields["tagging"].encode(), tagging.MAX_OBJECT_TAGS)
        out["x-amz-tagging"] = urlencode(tags)
    return CIMultiDictProxy(out)


async def _file_body(part: BodyPartReader, policy: postpolicy.PostPolicy | None,
                     max_size: int) -> tuple[Body, int | None]:
    """The file as the object's body, and its size when it is small enough to have been
    read whole (then checked before anything is written); a larger one streams, its
    size checked as it arrives and its content-length-range minimum before its last
    piece is passed on (a failed check aborts the write: nothing is stored)."""
    first = bytearray()
    try:
        while len(first) <= BUFFER_LIMIT:
            chunk = await part.read_chunk(CHUNK)
            if not chunk:
                postpolicy.check_size(policy, len(first), final=True)
                return BytesBody(bytes(first)), len(first)
            first += chunk
    except (ValueError, RuntimeError, aiohttp.ClientPayloadError):
        raise S3Error("MalformedPOSTRequest") from None
    got = len(first)
    postpolicy.check_size(policy, got, final=False)

    async def source() -> AsyncIterator[bytes]:
        nonlocal got
        yield bytes(first)
        try:
            while chunk := await part.read_chunk(CHUNK):
                got += len(chunk)
                postpolicy.check_size(policy, got, final=False)
                if got > max_size:
                    raise S3Error("EntityTooLarge", ProposedSize=str(got),
                                  MaxSizeAllowed=str(max_size))
                yield chunk
        except (ValueError, RuntimeError, aiohttp.ClientPayloadError):
            raise S3Error("IncompleteBody") from None

    return CheckedBody(source(), lambda: postpolicy.check_size(policy, got, final=True)), None


async def upload_request(request: web.Request, st: ProxyState, bucket: str,
                         txn: str) -> S3Request:
    """The browser upload as the PutObject of its form's key: its signature and policy
    checked (see the module's doc), its file ready to stream."""
    fields, part = await _read_fields(request)
    signed = signed_claim(fields, (st.cfg.region, "us-east-1"))
    caller = Caller(None)
    policy: postpolicy.PostPolicy | None = None
    if signed is not None:
        caller = (await auth.verify_for(st, signed)).caller
        policy = postpolicy.decode(signed.string_to_sign)
        postpolicy.check(policy, fields, bucket, time.time())
    key = _object_key(fields, part.filename)
    base = str(request.url.with_query(None)).rstrip("/")
    form = Form(fields.get("success_action_status", ""),
                fields.get("success_action_redirect") or fields.get("redirect") or "",
                base + "/" + quote(key, safe="/~"))
    body, length = await _file_body(part, policy, st.cfg.proxy.max_file_size)
    req = S3Request(
        st=st, method="POST", bucket=bucket, key=key, query={},
        headers=_headers(fields, request), caller=caller, txn=txn,
        remote=request.remote or "", body=body, content_length=length,
        secure=request.secure, auth_type="POST" if signed is not None else "",
        signature_version="" if signed is None else
        sigv4.ALGORITHM if signed.scope is not None else "AWS",
        operation=Operation(Op.POST_OBJECT, bucket, key))
    req.memo[FORM_MEMO] = form
    return req


async def post_object(req: S3Request) -> SwiftResponse:
    """Store the form's file (``objects.store``) and answer as the form asks."""
    form: Form = req.memo[FORM_MEMO]
    stored, vcfg = await objects.store(req)
    etag = quoted(stored.get("ETag", ""))
    headers = {"ETag": etag, "Location": form.location, **versioning.written(vcfg, stored)}
    if form.redirect and urlsplit(form.redirect).scheme in ("http", "https"):
        sep = "&" if urlsplit(form.redirect).query else "?"
        target = form.redirect + sep + urlencode(
            {"bucket": req.bucket or "", "key": req.key or "", "etag": etag})
        return SwiftResponse.of(303, {**headers, "Location": target, "Content-Length": "0"})
    if form.status == "201":
        doc = x.root("PostResponse")
        x.add(doc, "Location", form.location)
        x.add(doc, "Bucket", req.bucket or "")
        x.add(doc, "Key", req.key or "")
        x.add(doc, "ETag", etag)
        resp = x.response(doc, 201)
        resp.headers.update(headers)
        return resp
    status = 200 if form.status == "200" else 204
    return SwiftResponse.of(status, {**headers, "Content-Length": "0"})
