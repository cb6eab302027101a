"""The S3-compatible REST front of the proxy (path-style addressing).

Requests that are not Swift's (``/v1/...``, ``/info``, ``/auth/v1.0``) reach
:func:`proxy.s3.front.s3_api`. The signature is checked (``auth``: SigV4 in
the Authorization header or a presigned query, SigV2) by asking identity's
``POST /v3/s3tokens`` to verify the string to sign we computed (``common.sigv4``,
``sigv2``); the EC2 credential's project owns the buckets: bucket ``b`` is
container ``b`` of account ``AUTH_<project_id>``.

One direction, each module importing only those below it:

- ``front``: the aiohttp handler; builds the :class:`~proxy.s3.request.S3Request`
  (signature, checked body) and renders every error in one place;
- ``dispatch``: the request's :class:`~proxy.s3.operation.Operation`
  (``operation``, parsed first), the account holding its bucket (``routing``,
  with the bucket-name ``registry``), then the one handler a table names;
- the handlers, by role: ``buckets``, ``objects``, ``uploads``/``complete``
  (multipart), ``versions``, ``acl``, ``tagging``, ``cors``; with what they
  share about multipart objects (``multipart``) and versions (``versioning``);
- leaves: ``shared`` (helpers of several handler modules), ``request``,
  ``xmlutil``, ``checksums``, ``conditions``, ``body``, ``errors``.

Each S3 operation is carried out as in-process Swift subrequests through the
whole proxy pipeline, so ACLs, quotas and every other feature apply and S3
objects are Swift objects. Errors are :class:`~proxy.s3.errors.S3Error`
(a ``common.errors.StrataError``) rendered as S3's XML documents.
"""
