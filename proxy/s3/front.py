"""The aiohttp handler of the S3 front: authenticate, dispatch, answer in S3's terms."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from aiohttp import web

from common.http import TXN_ID, ApiError
from proxy import pipeline
from proxy.auth import Caller
from proxy.s3 import auth, handlers, sigv4
from proxy.s3.errors import S3Error, error_xml, from_swift_status
from proxy.s3.request import S3Request, checked_body, split_path
from proxy.state import STATE

log = logging.getLogger(__name__)


async def s3_api(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE]
    txn = request[TXN_ID]
    raw_path = request.raw_path.split("?", 1)[0]
    resource = unquote(raw_path)
    try:
        bucket, key = split_path(raw_path)
        raw_query = request.rel_url.raw_query_string
        signed = auth.parse(request.method, raw_path, raw_query, request.headers)
        caller = Caller(None)
        body: pipeline.Body = pipeline.StreamBody(request.content)
        if signed is not None:
            caller = await auth.verify(st.backend.session, st.cfg.identity_url(), signed)
            body = await checked_body(body, signed.payload_hash, request.content_length)
        req = S3Request(
            st=st, method=request.method, bucket=bucket, key=key,
            query=dict(sigv4.split_query(raw_query)), headers=request.headers,
            caller=caller, txn=txn, remote=request.remote or "", body=body,
            content_length=request.content_length)
        resp = await handlers.dispatch(req)
    except S3Error as err:
        resp = _error(err, request.method, resource, txn)
    except ApiError as err:  # from code shared with the Swift API
        resp = _error(from_swift_status(err.status), request.method, resource, txn)
    resp.headers["x-amz-request-id"] = txn
    return await pipeline.send(request, resp)


def _error(err: S3Error, method: str, resource: str, txn: str) -> pipeline.SwiftResponse:
    if method == "HEAD":
        return pipeline.SwiftResponse.of(err.status, {"Content-Length": "0"})
    return pipeline.SwiftResponse.of(err.status, {"Content-Type": "application/xml"},
                                     error_xml(err, resource, txn))
