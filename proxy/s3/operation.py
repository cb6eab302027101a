"""What an S3 request asks for, read from its method, path, query and headers alone.

Every request is parsed into one :class:`Operation` (``GetObject``,
``PutObject``, ``ListObjectsV2``, ``CreateMultipartUpload``, ...) before
anything runs; ``dispatch`` then answers it with the handler its :class:`Op`
names. A request that is no operation S3 has (a method a resource does not
take, a sub-resource Strata does not build) is refused here with S3's error.
Pure: no I/O, no other S3 module but the errors, so it is tested on its own.

Values the handlers check themselves (a part number's range, an upload id's
form, a version id) are carried as given: each handler refuses them at the
point of its work S3 does, after checks that come first there.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import NamedTuple

from proxy.s3.errors import S3Error

# Sub-resources S3 has and we do not: NotImplemented rather than a wrong answer.
UNSUPPORTED = frozenset({
    "accelerate", "analytics", "encryption", "intelligent-tiering",
    "inventory", "lifecycle", "logging", "metrics", "notification",
    "partNumber", "replication", "requestPayment", "restore", "select",
    "torrent", "website",
})
COPY_SOURCE = "x-amz-copy-source"


class Op(enum.Enum):
    """The operations of the S3 API that Strata answers (values: AWS's names)."""

    LIST_BUCKETS = "ListBuckets"
    CREATE_BUCKET = "CreateBucket"
    HEAD_BUCKET = "HeadBucket"
    DELETE_BUCKET = "DeleteBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    GET_BUCKET_POLICY = "GetBucketPolicy"
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    DELETE_OBJECTS = "DeleteObjects"
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    PUT_OBJECT = "PutObject"
    POST_OBJECT = "PostObject"  # a browser upload (postobject: never parsed from a path)
    COPY_OBJECT = "CopyObject"
    DELETE_OBJECT = "DeleteObject"
    # GetObject, HeadObject and DeleteObject of one version (``?versionId=``)
    GET_OBJECT_VERSION = "GetObjectVersion"
    HEAD_OBJECT_VERSION = "HeadObjectVersion"
    DELETE_OBJECT_VERSION = "DeleteObjectVersion"
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"
    GET_BUCKET_ACL = "GetBucketAcl"
    PUT_BUCKET_ACL = "PutBucketAcl"
    GET_OBJECT_ACL = "GetObjectAcl"
    PUT_OBJECT_ACL = "PutObjectAcl"
    GET_BUCKET_TAGGING = "GetBucketTagging"
    PUT_BUCKET_TAGGING = "PutBucketTagging"
    DELETE_BUCKET_TAGGING = "DeleteBucketTagging"
    GET_OBJECT_TAGGING = "GetObjectTagging"
    PUT_OBJECT_TAGGING = "PutObjectTagging"
    DELETE_OBJECT_TAGGING = "DeleteObjectTagging"
    GET_BUCKET_CORS = "GetBucketCors"
    PUT_BUCKET_CORS = "PutBucketCors"
    DELETE_BUCKET_CORS = "DeleteBucketCors"
    GET_BUCKET_VERSIONING = "GetBucketVersioning"
    PUT_BUCKET_VERSIONING = "PutBucketVersioning"
    LIST_OBJECT_VERSIONS = "ListObjectVersions"
    PUT_BUCKET_POLICY = "PutBucketPolicy"
    DELETE_BUCKET_POLICY = "DeleteBucketPolicy"
    GET_BUCKET_POLICY_STATUS = "GetBucketPolicyStatus"
    GET_PUBLIC_ACCESS_BLOCK = "GetPublicAccessBlock"
    PUT_PUBLIC_ACCESS_BLOCK = "PutPublicAccessBlock"
    DELETE_PUBLIC_ACCESS_BLOCK = "DeletePublicAccessBlock"
    GET_BUCKET_OWNERSHIP_CONTROLS = "GetBucketOwnershipControls"
    PUT_BUCKET_OWNERSHIP_CONTROLS = "PutBucketOwnershipControls"
    DELETE_BUCKET_OWNERSHIP_CONTROLS = "DeleteBucketOwnershipControls"
    GET_OBJECT_LOCK_CONFIGURATION = "GetObjectLockConfiguration"
    PUT_OBJECT_LOCK_CONFIGURATION = "PutObjectLockConfiguration"
    GET_OBJECT_RETENTION = "GetObjectRetention"
    PUT_OBJECT_RETENTION = "PutObjectRetention"
    GET_OBJECT_LEGAL_HOLD = "GetObjectLegalHold"
    PUT_OBJECT_LEGAL_HOLD = "PutObjectLegalHold"
    GET_OBJECT_ATTRIBUTES = "GetObjectAttributes"
    PREFLIGHT = "Preflight"  # a CORS preflight (OPTIONS): anonymous



class Operation(NamedTuple):
    """One S3 operation on ``bucket``/``key`` (either None where the operation has
    none). ``subresource`` is the query parameter that chose the operation
    (``acl``, ``uploadId``, ...); ``version_id``, ``upload_id`` and ``part_number``
    are the query's values, unchecked. (A named tuple: immutable, and made on every
    request at a third of a frozen dataclass's cost.)"""

    kind: Op
    bucket: str | None = None
    key: str | None = None
    subresource: str | None = None
    version_id: str | None = None
    upload_id: str | None = None
    part_number: str | None = None


# How a sub-resource's operations are told apart: (method, bucket, key, query, headers).
_Parser = Callable[[str, str, str | None, Mapping[str, str], Mapping[str, str]], Operation]


def valid_bucket(name: str) -> bool:
    """An existing bucket may be any Swift container name (made over Swift)."""
    return 0 < len(name.encode()) <= 255 and "/" not in name and "\x00" not in name


def _not_allowed(method: str, resource_type: str) -> S3Error:
    return S3Error("MethodNotAllowed", Method=method, ResourceType=resource_type)


def parse(method: str, bucket: str | None, key: str | None, query: Mapping[str, str],
          headers: Mapping[str, str]) -> Operation:
    """The operation a request asks for; the S3 error that refuses it otherwise."""
    if method == "OPTIONS":
        return Operation(Op.PREFLIGHT, bucket, key)
    if query:  # (most requests have none: they skip this)
        unsupported = sorted(UNSUPPORTED & query.keys())
        if unsupported == ["partNumber"] and ("uploadId" in query or (
                key is not None and method in ("GET", "HEAD") and "versionId" not in query)):
            unsupported = []  # UploadPart, or GetObject/HeadObject of one part
        if unsupported:
            raise S3Error("NotImplemented", f"?{unsupported[0]} is not implemented yet.")
    if bucket is None:
        if method == "GET":
            return Operation(Op.LIST_BUCKETS)
        raise _not_allowed(method, "SERVICE")
    if not valid_bucket(bucket):
        raise S3Error("InvalidBucketName", BucketName=bucket)
    if query:
        for name, parser in _SUBRESOURCES:
            if name in query:
                return parser(method, bucket, key, query, headers)
    return _plain(method, bucket, key, query, headers)


def _plain(method: str, bucket: str, key: str | None, query: Mapping[str, str],
           headers: Mapping[str, str]) -> Operation:
    """A bucket's or an object's own operations (no sub-resource)."""
    if key is None:
        if method == "GET":
            if "location" in query:
                return Operation(Op.GET_BUCKET_LOCATION, bucket, subresource="location")
            if query.get("list-type") == "2":
                return Operation(Op.LIST_OBJECTS_V2, bucket)
            return Operation(Op.LIST_OBJECTS, bucket)
        kind = _BUCKET_METHODS.get(method)
        if kind is not None:
            return Operation(kind, bucket)
        if method == "POST" and "delete" in query:
            return Operation(Op.DELETE_OBJECTS, bucket, subresource="delete")
        raise _not_allowed(method, "BUCKET")
    if method == "GET":
        return Operation(Op.GET_OBJECT, bucket, key, part_number=query.get("partNumber"))
    if method == "HEAD":
        return Operation(Op.HEAD_OBJECT, bucket, key, part_number=query.get("partNumber"))
    if method == "PUT":
        kind = Op.COPY_OBJECT if COPY_SOURCE in headers else Op.PUT_OBJECT
        return Operation(kind, bucket, key)
    if method == "DELETE":
        return Operation(Op.DELETE_OBJECT, bucket, key)
    raise _not_allowed(method, "OBJECT")


_BUCKET_METHODS = {"HEAD": Op.HEAD_BUCKET, "PUT": Op.CREATE_BUCKET, "DELETE": Op.DELETE_BUCKET}


def _multipart(method: str, bucket: str, key: str | None, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Operation:
    """``?uploads`` or ``?uploadId`` on a bucket or an object."""
    if key is None:
        if method == "GET" and "uploads" in query:
            return Operation(Op.LIST_MULTIPART_UPLOADS, bucket, subresource="uploads")
        raise _not_allowed(method, "BUCKET")
    upload_id = query.get("uploadId")
    if upload_id is not None:
        kind = {"PUT": Op.UPLOAD_PART_COPY if COPY_SOURCE in headers else Op.UPLOAD_PART,
                "POST": Op.COMPLETE_MULTIPART_UPLOAD, "GET": Op.LIST_PARTS,
                "DELETE": Op.ABORT_MULTIPART_UPLOAD}.get(method)
        if kind is not None:
            return Operation(kind, bucket, key, "uploadId", upload_id=upload_id,
                             part_number=query.get("partNumber"))
    elif method == "POST":
        return Operation(Op.CREATE_MULTIPART_UPLOAD, bucket, key, "uploads")
    raise _not_allowed(method, "OBJECT")


def _by_method(sub: str, on_bucket: dict[str, Op], on_object: dict[str, Op]) -> _Parser:
    """A sub-resource whose operations differ only by method and target (``acl``,
    ``tagging``, ...); an object's carries the query's ``versionId``."""
    def parse_sub(method: str, bucket: str, key: str | None, query: Mapping[str, str],
                  headers: Mapping[str, str]) -> Operation:
        kind = (on_bucket if key is None else on_object).get(method)
        if kind is None:
            raise _not_allowed(method, "BUCKET" if key is None else "OBJECT")
        return Operation(kind, bucket, key, sub,
                         version_id=query.get("versionId") if key is not None else None)
    return parse_sub


def _cors(method: str, bucket: str, key: str | None, query: Mapping[str, str],
          headers: Mapping[str, str]) -> Operation:
    if key is not None:
        raise S3Error("InvalidRequest", "?cors is a bucket sub-resource.")
    kind = {"PUT": Op.PUT_BUCKET_CORS, "GET": Op.GET_BUCKET_CORS,
            "DELETE": Op.DELETE_BUCKET_CORS}.get(method)
    if kind is None:
        raise _not_allowed(method, "BUCKET")
    return Operation(kind, bucket, subresource="cors")


def _versioning(method: str, bucket: str, key: str | None, query: Mapping[str, str],
                headers: Mapping[str, str]) -> Operation:
    """``?versioning``, ``?versions`` or ``?versionId``."""
    if key is None:
        if "versioning" in query:
            kind = {"GET": Op.GET_BUCKET_VERSIONING,
                    "PUT": Op.PUT_BUCKET_VERSIONING}.get(method)
            if kind is not None:
                return Operation(kind, bucket, subresource="versioning")
        elif "versions" in query and method == "GET":
            return Operation(Op.LIST_OBJECT_VERSIONS, bucket, subresource="versions")
        raise _not_allowed(method, "BUCKET")
    vid = query.get("versionId")
    if vid is None:
        raise S3Error("InvalidRequest", "Unknown versioning request.")
    kind = {"GET": Op.GET_OBJECT_VERSION, "HEAD": Op.HEAD_OBJECT_VERSION,
            "DELETE": Op.DELETE_OBJECT_VERSION}.get(method)
    if kind is not None:
        return Operation(kind, bucket, key, "versionId", version_id=vid)
    if method == "PUT" and COPY_SOURCE in headers:
        raise S3Error("InvalidArgument", "versionId is not allowed on a copy's destination.",
                      ArgumentName="versionId", ArgumentValue=vid)
    raise _not_allowed(method, "OBJECT")


# The sub-resources that have operations of their own, in the order they win when a
# query names several.
_SUBRESOURCES: tuple[tuple[str, _Parser], ...] = (
    ("uploads", _multipart),
    ("uploadId", _multipart),
    ("acl", _by_method("acl", {"GET": Op.GET_BUCKET_ACL, "PUT": Op.PUT_BUCKET_ACL},
                       {"GET": Op.GET_OBJECT_ACL, "PUT": Op.PUT_OBJECT_ACL})),
    ("tagging", _by_method(
        "tagging", {"GET": Op.GET_BUCKET_TAGGING, "PUT": Op.PUT_BUCKET_TAGGING,
                    "DELETE": Op.DELETE_BUCKET_TAGGING},
        {"GET": Op.GET_OBJECT_TAGGING, "PUT": Op.PUT_OBJECT_TAGGING,
         "DELETE": Op.DELETE_OBJECT_TAGGING})),
    ("cors", _cors),
    ("policy", _by_method("policy", {"GET": Op.GET_BUCKET_POLICY, "PUT": Op.PUT_BUCKET_POLICY,
                                     "DELETE": Op.DELETE_BUCKET_POLICY}, {})),
    ("policyStatus", _by_method("policyStatus", {"GET": Op.GET_BUCKET_POLICY_STATUS}, {})),
    ("publicAccessBlock", _by_method(
        "publicAccessBlock", {"GET": Op.GET_PUBLIC_ACCESS_BLOCK,
                              "PUT": Op.PUT_PUBLIC_ACCESS_BLOCK,
                              "DELETE": Op.DELETE_PUBLIC_ACCESS_BLOCK}, {})),
    ("ownershipControls", _by_method(
        "ownershipControls", {"GET": Op.GET_BUCKET_OWNERSHIP_CONTROLS,
                              "PUT": Op.PUT_BUCKET_OWNERSHIP_CONTROLS,
                              "DELETE": Op.DELETE_BUCKET_OWNERSHIP_CONTROLS}, {})),
    ("object-lock", _by_method("object-lock", {"GET": Op.GET_OBJECT_LOCK_CONFIGURATION,
                                               "PUT": Op.PUT_OBJECT_LOCK_CONFIGURATION}, {})),
    ("retention", _by_method("retention", {}, {"GET": Op.GET_OBJECT_RETENTION,
                                               "PUT": Op.PUT_OBJECT_RETENTION})),
    ("legal-hold", _by_method("legal-hold", {}, {"GET": Op.GET_OBJECT_LEGAL_HOLD,
                                                 "PUT": Op.PUT_OBJECT_LEGAL_HOLD})),
    ("attributes", _by_method("attributes", {}, {"GET": Op.GET_OBJECT_ATTRIBUTES})),
    ("versioning", _versioning),
    ("versions", _versioning),
    ("versionId", _versioning),
)
