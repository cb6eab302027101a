"""The most common S3 request in one step: a project's own GetObject or HeadObject.

Most S3 traffic is a signed GET or HEAD of an object by a member of the project
whose bucket holds it. The general path (``front._request``, ``dispatch``,
``routing``, ``access``, ``objects.get_object``) builds the request model and
decides it by the bucket's policy, ACLs and public access block, its
versioning and the object's ACL: some thirty steps, a tenth of the proxy's
work for a small GET. Here the same request is decided from what is already
at hand: the signature checked with the scope's cached signing key, the
caller's role on the project, and the bucket's cached container HEAD.

:func:`read` answers only when the general path would answer exactly the
same way without any of its other steps, and returns None otherwise before
doing anything the general path would not (it is then run as always):

- a GET or HEAD without a body or query (but boto3's ``x-id=GetObject``),
  signed with SigV4 in its Authorization header over an empty or unsigned
  payload, by a caller whose signing key is cached (identity already said
  who it is), with none of ``Origin``, ``If-Match``, ``If-None-Match``,
  ``x-amz-expected-bucket-owner`` (CORS and the multipart ETag's conditions
  are the general path's);
- a caller with a role on its own project, whose account holds the bucket,
  a bucket with no policy (a policy may deny even its owners) and that never
  had versioning (an answer then names the version);
- Swift's answer a 200 or 206 for an object its own project owns (an object
  another project wrote under a grant has an ACL of its own to decide).

When Swift's answer is anything else it is closed and the general path asks
again: a GET or HEAD changes nothing, so asking twice is safe, and errors
(a 304, a missing key or bucket) keep the general path's exact wording.
"""

from __future__ import annotations

from aiohttp import web

from common import sigv4
from proxy.auth import RESELLER_PREFIX
from proxy.pipeline import SwiftResponse
from proxy.s3 import access, auth, objects, versioning
from proxy.s3.operation import valid_bucket
from proxy.s3.request import split_path, swift_request
from proxy.state import ProxyState

READS = frozenset({"GET", "HEAD"})
# The only query a read here may carry: boto3 adds it to every GetObject's URL.
QUERIES = frozenset({"", "x-id=GetObject"})
# Headers whose meaning only the general path knows.
GENERAL = ("Origin", "If-Match", "If-None-Match", "x-amz-expected-bucket-owner")
PAYLOADS = frozenset({sigv4.EMPTY_SHA256, sigv4.UNSIGNED})
V4 = sigv4.ALGORITHM + " "


def eligible(request: web.Request) -> bool:
    """Could the request be one this module answers (its own shape, before any lookup)?"""
    if request.method not in READS or request.rel_url.raw_query_string not in QUERIES \
            or request.body_exists:
        return False
    headers = request.headers
    if not headers.get("Authorization", "").startswith(V4):
        return False
    for name in GENERAL:
        if name in headers:
            return False
    return True


async def read(request: web.Request, st: ProxyState, bucket_path: str,
               raw_path: str, txn: str) -> SwiftResponse | None:
    """The answer to an own-project GetObject/HeadObject (see the module's doc); None when
    the general path must answer. Raises the S3 error of a malformed signature, as the
    general path would first."""
    bucket, key = split_path(bucket_path)
    if bucket is None or key is None or not valid_bucket(bucket):
        return None
    headers = request.headers
    signed = auth.parse(request.method, raw_path, request.rel_url.raw_query_string, headers,
                        sigv2_path=bucket_path, regions=(st.cfg.region, "us-east-1"))
    if signed is None or signed.payload_hash not in PAYLOADS:
        return None
    verified = auth.cached(signed)
    if verified is None:
        return None
    caller, info = verified.caller, verified.caller.info
    if info is None or not info.project_id:
        return None
    account = RESELLER_PREFIX + info.project_id
    if not caller.reads(account):
        return None
    container = await st.info(txn, account, bucket)
    if not container.exists:
        return None  # another project's bucket, or none: the registry says
    state = access.bucket_state(container, bucket, account)
    if state.policy is not None or versioning.config_from(container).configured:
        return None
    r = await st.pipeline.call_s3(swift_request(
        request.method, account, bucket, key, caller=caller, txn=txn,
        remote=request.remote or "", headers=objects.forwarded(headers)))
    if r.status not in (200, 206) or access.object_acl(state, r.headers).owner != state.project:
        await r.close()
        return None
    out = objects.answer(r.headers, r.status == 200 and
                         headers.get("x-amz-checksum-mode", "").upper() == "ENABLED")
    out.setdefault("Accept-Ranges", "bytes")
    return SwiftResponse(r.status, out, r.body, r.on_close)
