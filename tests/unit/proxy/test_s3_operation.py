"""Parsing S3 requests into operations (proxy/s3/operation.py), on its own."""

from __future__ import annotations

import pytest

from proxy.s3.errors import S3Error
from proxy.s3.operation import Op, Operation, parse

COPY = {"x-amz-copy-source": "/src/key"}


def op(method: str, path: str, query: str = "", headers: dict[str, str] | None = None
       ) -> Operation:
    bucket, _, key = path.lstrip("/").partition("/")
    q = dict(p.partition("=")[::2] for p in query.split("&") if p)
    return parse(method, bucket or None, key or None, q, headers or {})


def refused(method: str, path: str, query: str = "",
            headers: dict[str, str] | None = None) -> S3Error:
    with pytest.raises(S3Error) as exc:
        op(method, path, query, headers)
    return exc.value


@pytest.mark.parametrize(("method", "path", "query", "headers", "kind"), [
    ("GET", "/", "", None, Op.LIST_BUCKETS),
    ("GET", "/", "acl", None, Op.LIST_BUCKETS),  # the service has no sub-resources
    ("PUT", "/b", "", None, Op.CREATE_BUCKET),
    ("HEAD", "/b", "", None, Op.HEAD_BUCKET),
    ("DELETE", "/b", "", None, Op.DELETE_BUCKET),
    ("GET", "/b", "location", None, Op.GET_BUCKET_LOCATION),
    ("GET", "/b", "policy", None, Op.GET_BUCKET_POLICY),
    ("PUT", "/b", "policy", None, Op.PUT_BUCKET_POLICY),
    ("DELETE", "/b", "policy", None, Op.DELETE_BUCKET_POLICY),
    ("GET", "/b", "policyStatus", None, Op.GET_BUCKET_POLICY_STATUS),
    ("PUT", "/b", "publicAccessBlock", None, Op.PUT_PUBLIC_ACCESS_BLOCK),
    ("DELETE", "/b", "ownershipControls", None, Op.DELETE_BUCKET_OWNERSHIP_CONTROLS),
    ("PUT", "/b", "object-lock", None, Op.PUT_OBJECT_LOCK_CONFIGURATION),
    ("PUT", "/b/k", "retention&versionId=v", None, Op.PUT_OBJECT_RETENTION),
    ("GET", "/b/k", "legal-hold", None, Op.GET_OBJECT_LEGAL_HOLD),
    ("GET", "/b/k", "attributes&versionId=v", None, Op.GET_OBJECT_ATTRIBUTES),
    ("GET", "/b", "", None, Op.LIST_OBJECTS),
    ("GET", "/b", "list-type=2", None, Op.LIST_OBJECTS_V2),
    ("GET", "/b", "list-type=1", None, Op.LIST_OBJECTS),
    ("POST", "/b", "delete", None, Op.DELETE_OBJECTS),
    ("GET", "/b/k", "", None, Op.GET_OBJECT),
    ("HEAD", "/b/k", "", None, Op.HEAD_OBJECT),
    ("GET", "/b/k", "location", None, Op.GET_OBJECT),
    ("PUT", "/b/k", "", None, Op.PUT_OBJECT),
    ("PUT", "/b/k", "", COPY, Op.COPY_OBJECT),
    ("DELETE", "/b/k", "", None, Op.DELETE_OBJECT),
    ("GET", "/b/k", "versionId=null", None, Op.GET_OBJECT_VERSION),
    ("HEAD", "/b/k", "versionId=null", None, Op.HEAD_OBJECT_VERSION),
    ("DELETE", "/b/k", "versionId=null", None, Op.DELETE_OBJECT_VERSION),
    ("POST", "/b/k", "uploads", None, Op.CREATE_MULTIPART_UPLOAD),
    ("PUT", "/b/k", "uploadId=u&partNumber=1", None, Op.UPLOAD_PART),
    ("PUT", "/b/k", "uploadId=u&partNumber=1", COPY, Op.UPLOAD_PART_COPY),
    ("POST", "/b/k", "uploadId=u", None, Op.COMPLETE_MULTIPART_UPLOAD),
    ("DELETE", "/b/k", "uploadId=u", None, Op.ABORT_MULTIPART_UPLOAD),
    ("GET", "/b/k", "uploadId=u", None, Op.LIST_PARTS),
    ("GET", "/b", "uploads", None, Op.LIST_MULTIPART_UPLOADS),
    ("GET", "/b", "acl", None, Op.GET_BUCKET_ACL),
    ("PUT", "/b", "acl", None, Op.PUT_BUCKET_ACL),
    ("GET", "/b/k", "acl", None, Op.GET_OBJECT_ACL),
    ("PUT", "/b/k", "acl", None, Op.PUT_OBJECT_ACL),
    ("GET", "/b", "tagging", None, Op.GET_BUCKET_TAGGING),
    ("PUT", "/b", "tagging", None, Op.PUT_BUCKET_TAGGING),
    ("DELETE", "/b", "tagging", None, Op.DELETE_BUCKET_TAGGING),
    ("GET", "/b/k", "tagging", None, Op.GET_OBJECT_TAGGING),
    ("PUT", "/b/k", "tagging", None, Op.PUT_OBJECT_TAGGING),
    ("DELETE", "/b/k", "tagging", None, Op.DELETE_OBJECT_TAGGING),
    ("GET", "/b", "cors", None, Op.GET_BUCKET_CORS),
    ("PUT", "/b", "cors", None, Op.PUT_BUCKET_CORS),
    ("DELETE", "/b", "cors", None, Op.DELETE_BUCKET_CORS),
    ("GET", "/b", "versioning", None, Op.GET_BUCKET_VERSIONING),
    ("PUT", "/b", "versioning", None, Op.PUT_BUCKET_VERSIONING),
    ("GET", "/b", "versions", None, Op.LIST_OBJECT_VERSIONS),
    ("OPTIONS", "/b/k", "lifecycle", None, Op.PREFLIGHT),  # preflights are not parsed
])
def test_each_operation(method: str, path: str, query: str, headers: dict[str, str] | None,
                        kind: Op) -> None:
    assert op(method, path, query, headers).kind is kind


def test_the_operation_carries_what_the_query_names() -> None:
    assert op("PUT", "/b/a/b c", "uploadId=u1&partNumber=7") == Operation(
        Op.UPLOAD_PART, "b", "a/b c", "uploadId", upload_id="u1", part_number="7")
    assert op("GET", "/b/k", "partNumber=2") == Operation(Op.GET_OBJECT, "b", "k",
                                                          part_number="2")
    assert op("DELETE", "/b/k", "versionId=123.45") == Operation(
        Op.DELETE_OBJECT_VERSION, "b", "k", "versionId", version_id="123.45")
    assert op("GET", "/b", "acl") == Operation(Op.GET_BUCKET_ACL, "b", None, "acl")
    # values are carried unchecked: the handler refuses them where S3 does
    assert op("PUT", "/b/k", "uploadId=x&partNumber=0").part_number == "0"


def test_subresources_win_in_s3s_order() -> None:
    assert op("GET", "/b/k", "uploadId=u&acl").kind is Op.LIST_PARTS
    assert op("GET", "/b/k", "acl&tagging").kind is Op.GET_OBJECT_ACL
    assert op("GET", "/b", "tagging&cors").kind is Op.GET_BUCKET_TAGGING
    assert op("GET", "/b", "cors&versioning").kind is Op.GET_BUCKET_CORS


def test_unsupported_subresources_are_not_implemented() -> None:
    err = refused("GET", "/b", "lifecycle")
    assert (err.code, err.status, err.message) == \
        ("NotImplemented", 501, "?lifecycle is not implemented yet.")
    # a bucket's sub-resource on an object (and the reverse) is no operation of S3's
    assert refused("GET", "/b/k", "policy").code == "MethodNotAllowed"
    assert refused("PUT", "/b", "retention").code == "MethodNotAllowed"
    assert refused("POST", "/b").code == "MethodNotAllowed"  # no browser uploads yet
    # partNumber is S3's for a part upload or a part read, not with a version id
    assert refused("GET", "/b/k", "partNumber=1&versionId=null").code == "NotImplemented"
    assert refused("PUT", "/b/k", "partNumber=1").code == "NotImplemented"
    assert refused("GET", "/b", "partNumber=1").code == "NotImplemented"
    # several: the first by name
    assert refused("GET", "/b", "website&lifecycle&acl").message == \
        "?lifecycle is not implemented yet."


@pytest.mark.parametrize(("method", "path", "query", "headers", "resource"), [
    ("PUT", "/", "", None, "SERVICE"),
    ("POST", "/b", "", None, "BUCKET"),
    ("POST", "/b/k", "", None, "OBJECT"),
    ("PUT", "/b", "uploads", None, "BUCKET"),
    ("GET", "/b/k", "uploads", None, "OBJECT"),
    ("HEAD", "/b/k", "uploadId=u", None, "OBJECT"),
    ("DELETE", "/b", "acl", None, "BUCKET"),
    ("DELETE", "/b/k", "acl", None, "OBJECT"),
    ("POST", "/b", "tagging", None, "BUCKET"),
    ("HEAD", "/b/k", "tagging", None, "OBJECT"),
    ("POST", "/b", "cors", None, "BUCKET"),
    ("DELETE", "/b", "versioning", None, "BUCKET"),
    ("PUT", "/b", "versions", None, "BUCKET"),
    ("GET", "/b", "versionId=1", None, "BUCKET"),
    ("PUT", "/b/k", "versionId=1", None, "OBJECT"),
])
def test_methods_a_resource_does_not_take(method: str, path: str, query: str,
                                          headers: dict[str, str] | None,
                                          resource: str) -> None:
    err = refused(method, path, query, headers)
    assert (err.code, err.status) == ("MethodNotAllowed", 405)
    assert err.extra == {"Method": method, "ResourceType": resource}


def test_other_refusals() -> None:
    err = refused("GET", "/" + "b" * 256)
    assert (err.code, err.extra) == ("InvalidBucketName", {"BucketName": "b" * 256})
    assert refused("GET", "/" + "b" * 256, "acl").code == "InvalidBucketName"
    err = refused("GET", "/b/k", "cors")
    assert (err.code, err.message) == ("InvalidRequest", "?cors is a bucket sub-resource.")
    err = refused("GET", "/b/k", "versioning")
    assert (err.code, err.message) == ("InvalidRequest", "Unknown versioning request.")
    err = refused("PUT", "/b/k", "versionId=1", COPY)
    assert (err.code, err.extra) == ("InvalidArgument", {"ArgumentName": "versionId",
                                                         "ArgumentValue": "1"})
