"""Bad input gets EC2's error document with its code and a 4xx status, and leaves
nothing half made: signatures, actions, parameters, ids, other projects, roles."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import NS, Ec2Cloud, Ec2Credential


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_answers_carry_the_namespace_and_the_request_id(cloud: Ec2Cloud,
                                                        demo_cred: Ec2Credential) -> None:
    ok = cloud.raw(demo_cred, {"Action": "DescribeRegions"})
    assert ok.status == 200 and ok.root.tag == f"{NS}DescribeRegionsResponse"
    assert ok.root.findtext(f"{NS}requestId") == ok.headers["x-amzn-RequestId"]
    assert ok.root.findtext(f"{NS}regionInfo/{NS}item/{NS}regionName") == "RegionOne"
    assert ok.headers["Content-Type"].startswith("text/xml")
    old = cloud.raw(demo_cred, {"Action": "DescribeRegions", "Version": "2014-10-01"})
    assert old.root.tag == "{http://ec2.amazonaws.com/doc/2014-10-01/}DescribeRegionsResponse"
    # the query string form (GET), and SigV2 (HmacSHA256) as older tools sign
    for reply in (cloud.raw(demo_cred, {"Action": "DescribeRegions"}, method="GET"),
                  cloud.raw(demo_cred, {"Action": "DescribeRegions"}, signer="v2")):
        assert reply.status == 200, reply.message
        assert reply.root.findtext(f"{NS}regionInfo/{NS}item/{NS}regionName") == "RegionOne"


def test_signatures_that_do_not_hold(cloud: Ec2Cloud, demo_cred: Ec2Credential) -> None:
    cases = [
        cloud.raw(demo_cred, {"Action": "DescribeVolumes"}, secret="wrong-secret"),
        cloud.raw(demo_cred, {"Action": "DescribeVolumes"}, signer="v2", secret="wrong"),
        cloud.raw(Ec2Credential("no-such-key", "x", "", ""), {"Action": "DescribeVolumes"}),
        cloud.raw(None, {"Action": "DescribeVolumes"}),
    ]
    for reply in cases:
        assert reply.status == 401 and reply.code == "AuthFailure", reply.message
        assert reply.root.tag == "Response" and reply.root.findtext("RequestID")
    an_hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    stale = cloud.raw(demo_cred, {"Action": "DescribeVolumes"}, at=an_hour_ago)
    assert (stale.status, stale.code) == (400, "RequestExpired")
    recent = an_hour_ago + datetime.timedelta(minutes=55)
    assert cloud.raw(demo_cred, {"Action": "DescribeVolumes"}, at=recent).status == 200


def test_actions_and_parameters(cloud: Ec2Cloud, demo: Any, demo_cred: Ec2Credential) -> None:
    unknown = cloud.raw(demo_cred, {"Action": "LaunchRockets"})
    assert (unknown.status, unknown.code) == (400, "InvalidAction")
    assert "LaunchRockets" in unknown.message
    missing = cloud.raw(demo_cred, {"Foo": "bar"})
    assert (missing.status, missing.code) == (400, "MissingParameter")
    bad = cloud.raw(demo_cred, {"Action": "CreateVolume", "Size": "huge",
                                "AvailabilityZone": "nova"})
    assert (bad.status, bad.code) == (400, "InvalidParameterValue")
    for call, kwargs, code in [
        (demo.create_snapshot, {"VolumeId": ""}, "MissingParameter"),
        (demo.create_volume, {"AvailabilityZone": "nova"}, "MissingParameter"),
        (demo.create_volume, {"Size": 0, "AvailabilityZone": "nova"},
         "InvalidParameterValue"),
        (demo.create_volume, {"Size": 1, "AvailabilityZone": "mars"},
         "InvalidParameterValue"),
        (demo.describe_volumes, {"Filters": [{"Name": "colour", "Values": ["red"]}]},
         "InvalidParameterValue"),
        (demo.describe_volumes, {"MaxResults": 2}, "InvalidParameterValue"),
        (demo.authorize_security_group_ingress,
         {"GroupName": "default", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22,
                                                     "ToPort": 22, "IpRanges": [
                                                         {"CidrIp": "300.0.0.0/8"}]}]},
         "InvalidParameterValue"),
        (demo.authorize_security_group_ingress,
         {"GroupName": "default", "IpPermissions": [{"IpProtocol": "tcp", "IpRanges": [
             {"CidrIp": "10.0.0.0/8"}]}]}, "MissingParameter"),
    ]:
        with pytest.raises(ClientError) as err:
            call(**kwargs)
        assert _code(err) == code, (call, kwargs, err.value)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("call,kwargs,code", [
    ("describe_volumes", {"VolumeIds": ["vol-0123456789abcdef0"]}, "InvalidVolume.NotFound"),
    ("delete_volume", {"VolumeId": "vol-0123456789abcdef0"}, "InvalidVolume.NotFound"),
    ("describe_volumes", {"VolumeIds": ["vol-nothex"]}, "InvalidVolumeID.Malformed"),
    ("describe_snapshots", {"SnapshotIds": ["snap-0123456789abcdef0"]},
     "InvalidSnapshot.NotFound"),
    ("create_volume", {"SnapshotId": "snap-0123456789abcdef0", "AvailabilityZone": "nova"},
     "InvalidSnapshot.NotFound"),
    ("describe_images", {"ImageIds": ["ami-0123456789abcdef0"]}, "InvalidAMIID.NotFound"),
    ("deregister_image", {"ImageId": "ami-01234567"}, "InvalidAMIID.NotFound"),
    ("describe_security_groups", {"GroupIds": ["sg-0123456789abcdef0"]},
     "InvalidGroup.NotFound"),
    ("delete_security_group", {"GroupName": "nope"}, "InvalidGroup.NotFound"),
    ("describe_addresses", {"AllocationIds": ["eipalloc-0123456789abcdef0"]},
     "InvalidAllocationID.NotFound"),
    ("release_address", {"AllocationId": "eipalloc-0123456789abcdef0"},
     "InvalidAllocationID.NotFound"),
    ("disassociate_address", {"AssociationId": "eipassoc-0123456789abcdef0"},
     "InvalidAssociationID.NotFound"),
    ("describe_vpcs", {"VpcIds": ["vpc-0123456789abcdef0"]}, "InvalidVpcID.NotFound"),
    ("describe_subnets", {"SubnetIds": ["subnet-0123456789abcdef0"]},
     "InvalidSubnetID.NotFound"),
    ("describe_network_interfaces", {"NetworkInterfaceIds": ["eni-0123456789abcdef0"]},
     "InvalidNetworkInterfaceID.NotFound"),
])
def test_unknown_ids(demo: Any, call: str, kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as err:
        getattr(demo, call)(**kwargs)
    assert _code(err) == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_another_projects_resources_are_not_found(cloud: Ec2Cloud, demo: Any,
                                                  third: Any) -> None:
    vid = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    gid = demo.create_security_group(GroupName="private-g", Description="d")["GroupId"]
    alloc = demo.allocate_address()["AllocationId"]
    try:
        for call, kwargs, code in [
            (third.describe_volumes, {"VolumeIds": [vid]}, "InvalidVolume.NotFound"),
            (third.delete_volume, {"VolumeId": vid}, "InvalidVolume.NotFound"),
            (third.create_snapshot, {"VolumeId": vid}, "InvalidVolume.NotFound"),
            (third.describe_security_groups, {"GroupIds": [gid]}, "InvalidGroup.NotFound"),
            (third.delete_security_group, {"GroupId": gid}, "InvalidGroup.NotFound"),
            (third.authorize_security_group_ingress,
             {"GroupId": gid, "IpPermissions": [{"IpProtocol": "-1", "IpRanges": [
                 {"CidrIp": "0.0.0.0/0"}]}]}, "InvalidGroup.NotFound"),
            (third.release_address, {"AllocationId": alloc}, "InvalidAllocationID.NotFound"),
            (third.describe_addresses, {"AllocationIds": [alloc]},
             "InvalidAllocationID.NotFound"),
        ]:
            with pytest.raises(ClientError) as err:
                call(**kwargs)
            assert _code(err) == code, (call, kwargs)
        assert vid not in {v["VolumeId"] for v in third.describe_volumes()["Volumes"]}
    finally:
        demo.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
        demo.delete_volume(VolumeId=vid)
        demo.delete_security_group(GroupId=gid)
        demo.release_address(AllocationId=alloc)


def test_readers_describe_and_dry_runs_answer_without_doing(
        cloud: Ec2Cloud, demo: Any, reader: Any) -> None:
    assert reader.describe_volumes()["Volumes"] == demo.describe_volumes()["Volumes"]
    before = len(demo.describe_volumes()["Volumes"])
    with pytest.raises(ClientError) as err:
        reader.create_volume(Size=1, AvailabilityZone="nova")
    assert _code(err) == "UnauthorizedOperation"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    vpc = demo.describe_vpcs()["Vpcs"][0]["VpcId"]
    with pytest.raises(ClientError) as err:
        reader.create_tags(Resources=[vpc], Tags=[{"Key": "a", "Value": "b"}])
    assert _code(err) == "UnauthorizedOperation"
    with pytest.raises(ClientError) as err:
        reader.create_volume(Size=1, AvailabilityZone="nova", DryRun=True)
    assert _code(err) == "UnauthorizedOperation"
    with pytest.raises(ClientError) as err:
        demo.create_volume(Size=1, AvailabilityZone="nova", DryRun=True)
    assert _code(err) == "DryRunOperation"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert len(demo.describe_volumes()["Volumes"]) == before


def test_nothing_is_half_made(cloud: Ec2Cloud, demo: Any) -> None:
    volumes = len(cloud.osc("demo", "volume", "list"))
    with pytest.raises(ClientError) as err:
        demo.create_volume(Size=1, AvailabilityZone="nova", TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "aws:reserved", "Value": "x"}]}])
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        demo.create_volume(Size=1, AvailabilityZone="nova", TagSpecifications=[
            {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    assert _code(err) == "InvalidParameterValue"
    assert len(cloud.osc("demo", "volume", "list")) == volumes
    groups = len(cloud.osc("demo", "security", "group", "list"))
    with pytest.raises(ClientError) as err:
        demo.create_security_group(GroupName="g", Description="d", TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "", "Value": "x"}]}])
    assert _code(err) in ("InvalidParameterValue", "MissingParameter")
    assert len(cloud.osc("demo", "security", "group", "list")) == groups
    fips = len(cloud.osc("demo", "floating", "ip", "list"))
    with pytest.raises(ClientError) as err:
        demo.allocate_address(PublicIpv4Pool="no-such-pool")
    assert _code(err) == "InvalidParameterValue"
    assert len(cloud.osc("demo", "floating", "ip", "list")) == fips


def test_oversized_and_odd_requests(cloud: Ec2Cloud, demo_cred: Ec2Credential) -> None:
    big = cloud.raw(demo_cred, {"Action": "DescribeVolumes", "Pad": "x" * 300000})
    assert big.status == 400 and big.code
    r = requests.put(cloud.ec2_url + "/", timeout=30)
    assert r.status_code == 400 and b"<Code>InvalidAction</Code>" in r.content
    form = requests.post(cloud.ec2_url + "/", data=b"{}", timeout=30,
                         headers={"Content-Type": "application/json"})
    assert form.status_code == 400 and b"<Code>InvalidParameterValue</Code>" in form.content
