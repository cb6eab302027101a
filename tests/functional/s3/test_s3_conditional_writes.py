"""Conditional writes (``If-None-Match: *``, ``If-Match``) on PutObject and
CompleteMultipartUpload, with boto3 against a real Strata."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from tests.functional.s3.test_s3_acl_tagging import bucket as bucket
from tests.functional.s3.test_s3_acl_tagging import error_of
from tests.functional.s3.test_s3_acl_tagging import s3 as s3


def test_conditional_writes(s3: BaseClient, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert error_of(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch='"0123"')
    assert error_of(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="nothing", Body=b"two", IfMatch=etag)
    assert error_of(exc) == (404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    # the same on CompleteMultipartUpload
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1,
                          Body=b"three")["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, IfNoneMatch="*",
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": 1, "ETag": part}]})
    assert error_of(exc) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up)
