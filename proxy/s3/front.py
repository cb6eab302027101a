"""The aiohttp handler of the S3 front: authenticate, dispatch, answer in S3's terms."""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from common import sigv4
from common.errors import StrataError
from common.http import TXN_ID, ApiError
from proxy import pipeline
from proxy.auth import Caller
from proxy.pipeline import Body, BytesBody
from proxy.s3 import auth, body, checksums, cors, fastread, postobject
from proxy.s3.dispatch import dispatch
from proxy.s3.errors import render
from proxy.s3.request import S3Request, split_path
from proxy.state import STATE, ProxyState

log = logging.getLogger(__name__)
BODY_METHODS = frozenset({"PUT", "POST"})
# What a request without a body may sign as its payload: nothing to read or check.
NO_BODY_HASHES = frozenset({sigv4.EMPTY_SHA256, sigv4.UNSIGNED, ""})


def virtual_host_bucket(host: str, domain: str) -> str | None:
    """The bucket a virtual-hosted-style Host names (``<bucket>.<domain>``), if any."""
    if not domain:
        return None
    name = host.rsplit(":", 1)[0].lower().rstrip(".") if host else ""
    domain = domain.lower().strip(".")
    if name.endswith("." + domain):
        return name[:-len(domain) - 1] or None
    return None


def _clean_headers(headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """The headers as the object sees them: aws-chunked is a transfer detail."""
    encoding = headers.get("Content-Encoding")
    if encoding is None or "aws-chunked" not in encoding.lower():
        return headers
    out = CIMultiDict(headers)
    rest = body.strip_aws_chunked(encoding)
    if rest:
        out["Content-Encoding"] = rest
    else:
        del out["Content-Encoding"]
    return CIMultiDictProxy(out)


async def _request(request: web.Request, st: ProxyState, bucket_path: str,
                   raw_path: str) -> S3Request:
    """The request as the handlers see it: its signature checked, its body ready to be
    checked as it is read. A CORS preflight is anonymous and has no body, as in S3."""
    bucket, key = split_path(bucket_path)
    txn, remote = request[TXN_ID], request.remote or ""
    if request.method == "OPTIONS":
        return S3Request(st=st, method="OPTIONS", bucket=bucket, key=key, query={},
                         headers=request.headers, caller=Caller(None), txn=txn, remote=remote)
    raw_query = request.rel_url.raw_query_string
    if bucket is not None and postobject.is_upload(request.method, key, raw_query,
                                                   request.headers):
        return await postobject.upload_request(request, st, bucket, txn)
    signed = auth.parse(request.method, raw_path, raw_query, request.headers,
                        sigv2_path=bucket_path, regions=(st.cfg.region, "us-east-1"))
    caller = Caller(None)
    signer: body.ChunkSigner | None = None
    if signed is not None:
        verified = await auth.verify_for(st, signed)
        caller = verified.caller
        if verified.signing_key is not None:
            signer = body.ChunkSigner.for_request(
                verified.signing_key, signed.string_to_sign, signed.signature)
    checksum = checksums.declared(request.headers) \
        if request.method in BODY_METHODS else None
    payload_hash = signed.payload_hash if signed else ""
    req_body: Body
    if checksum is None and payload_hash in NO_BODY_HASHES and not request.body_exists:
        req_body, length = BytesBody(), request.content_length  # (most GETs and HEADs)
    else:
        req_body, length = await body.request_body(
            request.content, payload_hash=payload_hash, length=request.content_length,
            checksum=checksum, signer=signer,
            decoded=request.headers.get("x-amz-decoded-content-length"))
    auth_type = version = ""
    if signed is not None:  # how it was signed: what bucket policies may ask of it
        auth_type = "REST-HEADER" if "Authorization" in request.headers \
            else "REST-QUERY-STRING"
        version = sigv4.ALGORITHM if signed.string_to_sign.startswith(sigv4.ALGORITHM) \
            else "AWS"
    return S3Request(
        st=st, method=request.method, bucket=bucket, key=key,
        query=dict(sigv4.split_query(raw_query)), headers=_clean_headers(request.headers),
        caller=caller, txn=txn, remote=remote, body=req_body, content_length=length,
        checksum=checksum, secure=request.secure, auth_type=auth_type,
        signature_version=version)


async def s3_api(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    txn = request[TXN_ID]
    raw_path = request.raw_path.split("?", 1)[0]
    vhost = virtual_host_bucket(request.host, st.cfg.proxy.s3_domain)
    bucket_path = raw_path if vhost is None else "/" + quote(vhost) + raw_path
    req: S3Request | None = None
    try:
        resp = await fastread.read(request, st, bucket_path, raw_path, txn) \
            if fastread.eligible(request) else None
        if resp is None:
            req = await _request(request, st, bucket_path, raw_path)
            resp = await dispatch(req)
    except (StrataError, ApiError) as err:  # (ApiError: from code shared with Swift's API)
        resp = render(err, request.method, unquote(bucket_path), txn)
    origin = request.headers.get("Origin")
    if origin and req is not None and request.method != "OPTIONS":
        # the bucket's CORS rules, if one matches (a preflight's answer is its own)
        resp.headers.update(await cors.actual_headers(req, origin))
    resp.headers["x-amz-request-id"] = txn
    return await pipeline.send(request, resp)
