"""Regions, zones, volumes and snapshots through boto3 and the aws CLI, seen natively
(``openstack volume ...``) with the same resources, and the other way round."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, native_ids


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_regions_and_zones(cloud: Ec2Cloud, demo: Any, demo_cred: Ec2Credential) -> None:
    (region,) = demo.describe_regions()["Regions"]
    assert region == {"RegionName": "RegionOne", "Endpoint": cloud.ec2_url,
                      "OptInStatus": "opt-in-not-required"}
    assert demo.describe_regions(Filters=[{"Name": "region-name",
                                           "Values": ["Other*"]}])["Regions"] == []
    (zone,) = demo.describe_availability_zones()["AvailabilityZones"]
    assert zone["ZoneName"] == "nova" and zone["State"] == "available"
    assert zone["RegionName"] == "RegionOne"
    with pytest.raises(ClientError) as err:
        demo.describe_availability_zones(ZoneNames=["mars"])
    assert _code(err) == "InvalidParameterValue"
    cli = cloud.aws(demo_cred, "describe-availability-zones")
    assert [z["ZoneName"] for z in cli["AvailabilityZones"]] == ["nova"]
    assert cloud.aws(demo_cred, "describe-regions")["Regions"][0]["RegionName"] == "RegionOne"


def test_a_volume_made_here_is_the_native_one(cloud: Ec2Cloud, demo: Any) -> None:
    made = demo.create_volume(Size=1, AvailabilityZone="nova", TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "ec2-made"}]}])
    vid = made["VolumeId"]
    assert vid.startswith("vol-") and made["State"] == "creating" and made["Size"] == 1
    assert made["Tags"] == [{"Key": "Name", "Value": "ec2-made"}]
    demo.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
    native = {v["ID"]: v for v in cloud.osc("demo", "volume", "list")}
    mapping = native_ids(cloud, "volume", list(native))
    (uuid,) = [u for u, e in mapping.items() if e == vid]
    assert native[uuid]["Status"] == "available" and native[uuid]["Size"] == 1
    (vol,) = demo.describe_volumes(VolumeIds=[vid])["Volumes"]
    assert vol["State"] == "available" and vol["AvailabilityZone"] == "nova"
    assert vol["Attachments"] == [] and vol["Tags"] == made["Tags"]
    demo.delete_volume(VolumeId=vid)
    deadline = time.monotonic() + 60
    while uuid in {v["ID"] for v in cloud.osc("demo", "volume", "list")}:
        assert time.monotonic() < deadline, "the volume was not deleted natively"
        time.sleep(0.5)
    with pytest.raises(ClientError) as err:
        demo.describe_volumes(VolumeIds=[vid])
    assert _code(err) == "InvalidVolume.NotFound"


def test_a_native_volume_is_described_here(cloud: Ec2Cloud, demo: Any) -> None:
    native = cloud.osc("demo", "volume", "create", "--size", "2", "native-made")
    ident = native_ids(cloud, "volume", [native["id"]])[native["id"]]
    deadline = time.monotonic() + 60
    while True:
        (vol,) = demo.describe_volumes(VolumeIds=[ident])["Volumes"]
        if vol["State"] == "available":
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert vol["Size"] == 2
    found = demo.describe_volumes(Filters=[{"Name": "size", "Values": ["2"]}])["Volumes"]
    assert ident in {v["VolumeId"] for v in found}
    # the id is kept: asked again, and after the volume is gone, it names nothing else
    assert native_ids(cloud, "volume", [native["id"]])[native["id"]] == ident
    assert cloud.osc_plain("demo", "volume", "delete", native["id"]).returncode == 0
    deadline = time.monotonic() + 60
    while ident in {v["VolumeId"] for v in demo.describe_volumes()["Volumes"]}:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_snapshots_and_a_volume_from_one(cloud: Ec2Cloud, demo: Any) -> None:
    vid = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    demo.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
    snap = demo.create_snapshot(VolumeId=vid, Description="first", TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "k", "Value": "v"}]}])
    sid = snap["SnapshotId"]
    assert sid.startswith("snap-") and snap["VolumeId"] == vid and snap["VolumeSize"] == 1
    assert snap["Description"] == "first" and snap["Tags"] == [{"Key": "k", "Value": "v"}]
    demo.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig={"Delay": 1})
    native = cloud.osc("demo", "volume", "snapshot", "list")
    assert sid in native_ids(cloud, "snapshot", [s["ID"] for s in native]).values()
    mine = demo.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "volume-id", "Values": [vid]}])["Snapshots"]
    assert [s["SnapshotId"] for s in mine] == [sid]
    assert mine[0]["State"] == "completed" and mine[0]["Progress"] == "100%"
    assert demo.describe_snapshots(OwnerIds=["amazon"])["Snapshots"] == []
    copy = demo.create_volume(SnapshotId=sid, AvailabilityZone="nova")
    assert copy["SnapshotId"] == sid and copy["Size"] == 1
    demo.get_waiter("volume_available").wait(VolumeIds=[copy["VolumeId"]],
                                             WaiterConfig={"Delay": 1})
    (described,) = demo.describe_volumes(Filters=[{"Name": "snapshot-id",
                                                   "Values": [sid]}])["Volumes"]
    assert described["VolumeId"] == copy["VolumeId"]
    # the block store keeps a volume's snapshots with it (EC2 would not): it refuses
    with pytest.raises(ClientError) as err:
        demo.delete_volume(VolumeId=vid)
    assert _code(err) == "IncorrectState" and "snapshot" in str(err.value).lower()
    demo.delete_volume(VolumeId=copy["VolumeId"])
    deadline = time.monotonic() + 60
    while True:
        try:
            demo.delete_snapshot(SnapshotId=sid)
            break
        except ClientError as exc:  # until the volume made from it is gone
            assert exc.response["Error"]["Code"] == "InvalidSnapshot.InUse"
            assert time.monotonic() < deadline
            time.sleep(0.5)
    deadline = time.monotonic() + 60
    while sid in {s["SnapshotId"] for s in demo.describe_snapshots()["Snapshots"]}:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    demo.delete_volume(VolumeId=vid)


def test_volume_pages(cloud: Ec2Cloud, third: Any) -> None:
    made = [third.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
            for _ in range(6)]
    try:
        pages = list(third.get_paginator("describe_volumes").paginate(
            PaginationConfig={"PageSize": 5}))
        assert [len(p["Volumes"]) for p in pages] == [5, 1]
        assert sorted(v["VolumeId"] for p in pages for v in p["Volumes"]) == sorted(made)
        with pytest.raises(ClientError) as err:
            third.describe_volumes(VolumeIds=made[:1], MaxResults=5)
        assert _code(err) == "InvalidParameterCombination"
    finally:
        third.get_waiter("volume_available").wait(VolumeIds=made, WaiterConfig={"Delay": 1})
        for vid in made:
            third.delete_volume(VolumeId=vid)


def test_the_aws_cli_makes_describes_and_deletes_volumes(
        cloud: Ec2Cloud, demo_cred: Ec2Credential) -> None:
    made = cloud.aws(demo_cred, "create-volume", "--size", "1", "--availability-zone", "nova",
                     "--tag-specifications",
                     "ResourceType=volume,Tags=[{Key=Name,Value=cli}]")
    vid = made["VolumeId"]
    cloud.aws(demo_cred, "wait", "volume-available", "--volume-ids", vid)
    found = cloud.aws(demo_cred, "describe-volumes", "--filters", "Name=tag:Name,Values=cli")
    assert [v["VolumeId"] for v in found["Volumes"]] == [vid]
    assert found["Volumes"][0]["State"] == "available"
    cloud.aws(demo_cred, "delete-volume", "--volume-id", vid)
    r = cloud.aws(demo_cred, "describe-volumes", "--volume-ids", "vol-0123456789abcdef0",
                  check=False)
    assert r.returncode != 0 and "InvalidVolume.NotFound" in r.stderr
