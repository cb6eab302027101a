"""Answering an S3 request: its operation (``operation.parse``), the account that
holds its bucket (``routing``), then the one handler this table names for it."""

from __future__ import annotations

from collections.abc import Awaitable

from proxy.pipeline import SwiftResponse
from proxy.s3 import (
    acl,
    attributes,
    buckets,
    complete,
    cors,
    objectlock,
    objects,
    policies,
    postobject,
    routing,
    tagging,
    uploads,
    versions,
)
from proxy.s3.operation import Op
from proxy.s3.request import S3Request
from proxy.s3.routing import Handler

HANDLERS: dict[Op, Handler] = {
    Op.LIST_BUCKETS: buckets.list_buckets,
    Op.CREATE_BUCKET: buckets.create_bucket,
    Op.HEAD_BUCKET: buckets.head_bucket,
    Op.DELETE_BUCKET: buckets.delete_bucket,
    Op.GET_BUCKET_LOCATION: buckets.bucket_location,
    Op.LIST_OBJECTS: buckets.list_objects,
    Op.LIST_OBJECTS_V2: buckets.list_objects_v2,
    Op.DELETE_OBJECTS: objects.delete_objects,
    Op.GET_OBJECT: objects.get_object,
    Op.HEAD_OBJECT: objects.get_object,
    Op.PUT_OBJECT: objects.put_object,
    Op.POST_OBJECT: postobject.post_object,
    Op.COPY_OBJECT: objects.copy_object,
    Op.DELETE_OBJECT: objects.delete_object,
    Op.GET_OBJECT_VERSION: versions.get_version,
    Op.HEAD_OBJECT_VERSION: versions.get_version,
    Op.DELETE_OBJECT_VERSION: versions.delete_version,
    Op.CREATE_MULTIPART_UPLOAD: uploads.create,
    Op.UPLOAD_PART: uploads.upload_part,
    Op.UPLOAD_PART_COPY: uploads.upload_part_copy,
    Op.COMPLETE_MULTIPART_UPLOAD: complete.complete,
    Op.ABORT_MULTIPART_UPLOAD: uploads.abort,
    Op.LIST_PARTS: uploads.list_parts,
    Op.LIST_MULTIPART_UPLOADS: uploads.list_uploads,
    Op.GET_BUCKET_ACL: acl.get_bucket_acl,
    Op.PUT_BUCKET_ACL: acl.put_bucket_acl,
    Op.GET_OBJECT_ACL: acl.get_object_acl,
    Op.PUT_OBJECT_ACL: acl.put_object_acl,
    Op.GET_BUCKET_TAGGING: tagging.get_bucket_tagging,
    Op.PUT_BUCKET_TAGGING: tagging.put_bucket_tagging,
    Op.DELETE_BUCKET_TAGGING: tagging.delete_bucket_tagging,
    Op.GET_OBJECT_TAGGING: tagging.get_object_tagging,
    Op.PUT_OBJECT_TAGGING: tagging.put_object_tagging,
    Op.DELETE_OBJECT_TAGGING: tagging.delete_object_tagging,
    Op.GET_BUCKET_CORS: cors.get_cors,
    Op.PUT_BUCKET_CORS: cors.put_cors,
    Op.DELETE_BUCKET_CORS: cors.delete_cors,
    Op.GET_BUCKET_VERSIONING: versions.get_versioning,
    Op.PUT_BUCKET_VERSIONING: versions.put_versioning,
    Op.LIST_OBJECT_VERSIONS: versions.list_versions,
    Op.GET_BUCKET_POLICY: policies.get_policy,
    Op.PUT_BUCKET_POLICY: policies.put_policy,
    Op.DELETE_BUCKET_POLICY: policies.delete_policy,
    Op.GET_BUCKET_POLICY_STATUS: policies.policy_status,
    Op.GET_PUBLIC_ACCESS_BLOCK: policies.get_public_access_block,
    Op.PUT_PUBLIC_ACCESS_BLOCK: policies.put_public_access_block,
    Op.DELETE_PUBLIC_ACCESS_BLOCK: policies.delete_public_access_block,
    Op.GET_BUCKET_OWNERSHIP_CONTROLS: policies.get_ownership,
    Op.PUT_BUCKET_OWNERSHIP_CONTROLS: policies.put_ownership,
    Op.DELETE_BUCKET_OWNERSHIP_CONTROLS: policies.delete_ownership,
    Op.GET_OBJECT_LOCK_CONFIGURATION: objectlock.get_configuration,
    Op.PUT_OBJECT_LOCK_CONFIGURATION: objectlock.put_configuration,
    Op.GET_OBJECT_RETENTION: objectlock.get_retention,
    Op.PUT_OBJECT_RETENTION: objectlock.put_retention,
    Op.GET_OBJECT_LEGAL_HOLD: objectlock.get_legal_hold,
    Op.PUT_OBJECT_LEGAL_HOLD: objectlock.put_legal_hold,
    Op.GET_OBJECT_ATTRIBUTES: attributes.get_object_attributes,
    Op.PREFLIGHT: cors.preflight,
}


def dispatch(req: S3Request) -> Awaitable[SwiftResponse]:
    """The answer to ``req``; the S3 error refusing it is raised. (A plain function
    returning the routed handler's coroutine: no frame of its own on every request.)"""
    return routing.route(req, HANDLERS[req.op.kind])
