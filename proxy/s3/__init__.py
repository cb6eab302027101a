"""The S3-compatible REST front of the proxy (path-style addressing).

Requests that are not Swift's (``/v1/...``, ``/info``, ``/auth/v1.0``) reach
:func:`proxy.s3.front.s3_api`. The signature is checked (``auth``: SigV4 in
the Authorization header or a presigned query, SigV2) by asking identity's
``POST /v3/s3tokens`` to verify the string to sign we computed (``sigv4``,
``sigv2``); the EC2 credential's project owns the buckets: bucket ``b`` is
container ``b`` of account ``AUTH_<project_id>``. Each S3 operation
(``handlers``) is carried out as in-process Swift subrequests through the
whole proxy pipeline, so ACLs, quotas and every other feature apply and S3
objects are Swift objects. Errors are S3's XML documents (``errors``).
"""
