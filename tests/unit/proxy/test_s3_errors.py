"""S3's errors as domain errors, and their one wire format (proxy/s3/errors.py)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from common import errors as domain
from common.http import ApiError, map_domain_error
from proxy.s3.errors import CODES, S3Error, as_s3, render


def test_an_s3_error_is_a_domain_error_with_its_codes_status() -> None:
    err = S3Error("NoSuchKey", Key="a/b")
    assert isinstance(err, domain.StrataError)
    assert (err.status, err.message, err.extra) == (404, CODES["NoSuchKey"][1], {"Key": "a/b"})
    assert str(err) == f"NoSuchKey: {CODES['NoSuchKey'][1]}"
    assert S3Error("OperationAborted").status == 409
    assert S3Error("AccessForbidden", "CORSResponse: no").status == 403
    assert S3Error("SomethingNew").status == 400  # a code the table does not list
    with pytest.raises(AttributeError):
        err.status = 500
    # the common mapper reads it like any other domain error
    mapped = map_domain_error(err)
    assert mapped is not None and (mapped.status, mapped.message) == (404, err.message)


def test_headers_sent_with_the_error() -> None:
    err = S3Error("MethodNotAllowed", Method="GET", ResourceType="DeleteMarker")
    err.answer_headers["x-amz-delete-marker"] = "true"
    assert err.headers() == {"x-amz-delete-marker": "true"}
    err.headers()["x"] = "y"  # a copy
    assert err.headers() == {"x-amz-delete-marker": "true"}


def test_other_errors_become_s3_errors_by_status() -> None:
    err = S3Error("NoSuchUpload")
    assert as_s3(err) is err
    assert as_s3(domain.Unavailable("node down")).code == "ServiceUnavailable"
    assert as_s3(domain.TooLarge("too big")).code == "EntityTooLarge"
    assert as_s3(ApiError(404, "gone")).code == "NoSuchBucket"
    assert as_s3(ApiError(418, "teapot")).code == "InvalidRequest"
    assert as_s3(ApiError(500, "oops")).code == "InternalError"


def test_render_one_error_document() -> None:
    err = S3Error("NoSuchBucket", BucketName="b")
    err.answer_headers["x-extra"] = "1"
    resp = render(err, "GET", "/b/k", "tx123")
    assert resp.status == 404
    assert resp.headers["Content-Type"] == "application/xml"
    assert resp.headers["x-extra"] == "1"
    assert isinstance(resp.body, bytes)
    doc = ET.fromstring(resp.body)
    assert [(el.tag, el.text) for el in doc] == [
        ("Code", "NoSuchBucket"), ("Message", CODES["NoSuchBucket"][1]),
        ("BucketName", "b"), ("Resource", "/b/k"), ("RequestId", "tx123")]
    head = render(err, "HEAD", "/b/k", "tx123")
    assert (head.status, head.headers["Content-Length"]) == (404, "0")
    assert head.body == b""
    assert render(domain.Unavailable("x"), "PUT", "/b", "tx").status == 503
