"""EC2's XML, read back by botocore's own EC2 parser with the service model: what boto3
and the aws CLI will see; and the error document with its statuses."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore.parsers import EC2QueryParser

from common.errors import BadRequest, Forbidden, NotFound, Unavailable
from common.http import ApiError, map_domain_error
from common.httpclient import remote_error
from ec2.api import xmlview
from ec2.api.base import code_and_status
from ec2.core.context import Unsupported
from ec2.errors import AuthFailure, DryRunOperation, ResourceNotFound, native_message

MODEL = botocore.session.get_session().get_service_model("ec2")


def parsed(action: str, body: dict[str, Any]) -> dict[str, Any]:
    xml = xmlview.response(action, "2016-11-15", "req-1", body)
    root = ElementTree.fromstring(xml)
    assert root.tag == f"{{http://ec2.amazonaws.com/doc/2016-11-15/}}{action}Response"
    shape = MODEL.operation_model(action).output_shape
    out: dict[str, Any] = EC2QueryParser().parse(
        {"body": xml, "headers": {}, "status_code": 200}, shape)
    assert out["ResponseMetadata"]["RequestId"] == "req-1"
    return out


def test_a_describe_reads_back_with_sets_structures_and_types() -> None:
    out = parsed("DescribeVolumes", {"volumeSet": [{
        "volumeId": "vol-1", "size": 8, "encrypted": False, "status": "in-use",
        "createTime": "2026-12-07T10:00:00.000Z", "snapshotId": "", "kmsKeyId": None,
        "attachmentSet": [{"instanceId": "i-1", "device": "/dev/vdb", "status": "attached"}],
        "tagSet": [{"key": "Name", "value": "a <b> & c"}]}], "nextToken": "t"})
    (vol,) = out["Volumes"]
    assert vol["VolumeId"] == "vol-1" and vol["Size"] == 8 and vol["Encrypted"] is False
    assert vol["Attachments"] == [{"InstanceId": "i-1", "Device": "/dev/vdb",
                                   "State": "attached"}]
    assert vol["Tags"] == [{"Key": "Name", "Value": "a <b> & c"}]
    assert "KmsKeyId" not in vol and vol["CreateTime"].year == 2026
    assert out["NextToken"] == "t"


def test_empty_sets_and_plain_answers() -> None:
    assert parsed("DescribeAddresses", {"addressesSet": []})["Addresses"] == []
    assert set(parsed("DeleteVolume", {"return": True})) == {"ResponseMetadata"}
    assert parsed("AssociateAddress", {"return": True, "associationId": "eipassoc-1"})[
        "AssociationId"] == "eipassoc-1"


def test_error_document() -> None:
    xml = xmlview.error("InvalidVolume.NotFound", "The volume 'vol-1' does not exist",
                        "req-9")
    root = ElementTree.fromstring(xml)
    assert root.tag == "Response" and root.findtext("RequestID") == "req-9"
    assert root.findtext("Errors/Error/Code") == "InvalidVolume.NotFound"
    err = EC2QueryParser().parse({"body": xml, "headers": {}, "status_code": 400},
                                 MODEL.operation_model("DescribeVolumes").output_shape)
    assert err["Error"]["Code"] == "InvalidVolume.NotFound"


def _mapped(exc: Exception) -> tuple[str, int]:
    api = map_domain_error(exc)
    assert api is not None
    return code_and_status(api)


@pytest.mark.parametrize("exc,code,status", [
    (ResourceNotFound("x", "InvalidVolume.NotFound"), "InvalidVolume.NotFound", 400),
    (AuthFailure("x"), "AuthFailure", 401),
    (DryRunOperation("x"), "DryRunOperation", 412),
    (remote_error(403, "x"), "UnauthorizedOperation", 403),
    (remote_error(409, "x"), "IncorrectState", 400),
    (remote_error(413, "x"), "ResourceLimitExceeded", 400),
    (remote_error(404, "x"), "InvalidID", 400),
    (BadRequest("x"), "InvalidParameterValue", 400),
    (NotFound("x"), "InvalidID", 400),
    (Forbidden("x"), "UnauthorizedOperation", 403),
    (Unavailable("x"), "Unavailable", 503),
    (Unsupported("x"), "UnsupportedOperation", 501),
])
def test_every_error_gets_an_ec2_code_and_status(exc: Exception, code: str,
                                                 status: int) -> None:
    assert _mapped(exc) == (code, status)
    assert code_and_status(ApiError(500, "boom")) == ("InternalError", 500)


def test_native_messages_are_read_from_their_bodies() -> None:
    cinder = remote_error(400, "the block store answered 400", '{"badRequest": {'
                          '"message": "Invalid volume: in use", "code": 400}}')
    glance = remote_error(403, "x", '{"error": {"message": "Forbidden to publicize"}}')
    plain = remote_error(500, "the service answered 500", "<html>")
    assert native_message(cinder) == "Invalid volume: in use"
    assert native_message(glance) == "Forbidden to publicize"
    assert native_message(plain) == "the service answered 500"
