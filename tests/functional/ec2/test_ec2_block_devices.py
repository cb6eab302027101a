"""RunInstances' BlockDeviceMapping through boto3: a root volume made from the image,
volumes from a snapshot and blank ones, an image registered from a snapshot as the
root, what DescribeInstances shows of them, what goes with the instance, and the
mappings EC2 refuses (nothing made)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import Ec2Cloud, native_ids

FLAVOR = "m1.nano"
FAST = {"Delay": 1, "MaxAttempts": 120}


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def _servers(cloud: Ec2Cloud) -> set[str]:
    r = requests.get(cloud.url("compute") + "/v2.1/servers", timeout=60,
                     headers={"X-Auth-Token": cloud.api("demo").token})
    return {s["id"] for s in r.json()["servers"]}


@pytest.fixture(scope="module")
def snapshot(demo: Any) -> Iterator[str]:
    vol = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    demo.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    snap = demo.create_snapshot(VolumeId=vol)["SnapshotId"]
    demo.get_waiter("snapshot_completed").wait(SnapshotIds=[snap], WaiterConfig=FAST)
    yield snap
    demo.delete_snapshot(SnapshotId=snap)
    deadline = time.monotonic() + 60
    while any(s["SnapshotId"] == snap for s in demo.describe_snapshots(
            OwnerIds=["self"])["Snapshots"]):  # deleted in the background
        assert time.monotonic() < deadline, f"{snap} was not deleted"
        time.sleep(1)
    demo.delete_volume(VolumeId=vol)


def _instance(demo: Any, ident: str) -> dict[str, Any]:
    (rsv,) = demo.describe_instances(InstanceIds=[ident])["Reservations"]
    return dict(rsv["Instances"][0])


def _gone(demo: Any, volumes: list[str]) -> bool:
    left = {v["VolumeId"] for v in demo.describe_volumes()["Volumes"]}
    return not left & set(volumes)


def test_run_with_root_snapshot_and_blank_volumes(cloud: Ec2Cloud, demo: Any, ami: str,
                                                  snapshot: str) -> None:
    (inst,) = demo.run_instances(
        ImageId=ami, InstanceType=FLAVOR, MinCount=1, MaxCount=1, BlockDeviceMappings=[
            {"DeviceName": "/dev/sdc", "Ebs": {"VolumeSize": 1, "VolumeType": "standard"}},
            {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 2}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": snapshot,
                                                "DeleteOnTermination": False}},
            {"DeviceName": "/dev/sdd", "NoDevice": ""}])["Instances"]
    ident = inst["InstanceId"]
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)
    shown = _instance(demo, ident)
    assert (shown["RootDeviceType"], shown["RootDeviceName"]) == ("ebs", "/dev/vda")
    assert shown["ImageId"] == ami  # the image its root volume was made from
    maps = shown["BlockDeviceMappings"]
    assert [m["DeviceName"] for m in maps] == ["/dev/vda", "/dev/vdb", "/dev/vdc"]
    assert [m["Ebs"]["DeleteOnTermination"] for m in maps] == [True, False, True]
    assert {m["Ebs"]["Status"] for m in maps} == {"attached"}
    by_id = {v["VolumeId"]: v for v in demo.describe_volumes(
        VolumeIds=[m["Ebs"]["VolumeId"] for m in maps])["Volumes"]}
    root, from_snap, blank = (by_id[m["Ebs"]["VolumeId"]] for m in maps)
    assert (root["Size"], from_snap["Size"], blank["Size"]) == (2, 1, 1)
    assert from_snap["SnapshotId"] == snapshot
    assert all(v["Attachments"][0]["InstanceId"] == ident for v in by_id.values())
    # compute's own view: the same volumes
    uuid = {v: k for k, v in native_ids(cloud, "instance", list(_servers(cloud))).items()}[
        ident]
    native = requests.get(cloud.url("compute") + f"/v2.1/servers/{uuid}", timeout=60,
                          headers={"X-Auth-Token": cloud.api("demo").token,
                                   "OpenStack-API-Version": "compute 2.79"}).json()["server"]
    attached = [v["id"] for v in native["os-extended-volumes:volumes_attached"]]
    assert set(native_ids(cloud, "volume", attached).values()) == set(by_id)
    assert native["image"] == ""  # compute boots it from the volume
    found = demo.describe_instances(Filters=[
        {"Name": "block-device-mapping.volume-id", "Values": [from_snap["VolumeId"]]}])
    assert [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]] == [
        ident]
    ebs = demo.describe_instances(Filters=[
        {"Name": "root-device-type", "Values": ["ebs"]}, {"Name": "instance-id",
                                                         "Values": [ident]}])
    assert len(ebs["Reservations"]) == 1

    demo.terminate_instances(InstanceIds=[ident])
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    deadline = time.monotonic() + 60
    while not _gone(demo, [root["VolumeId"], blank["VolumeId"]]):
        assert time.monotonic() < deadline, "the instance's volumes outlived it"
        time.sleep(1)
    kept = demo.describe_volumes(VolumeIds=[from_snap["VolumeId"]])["Volumes"][0]
    for _ in range(60):
        if kept["State"] == "available":
            break
        time.sleep(1)
        kept = demo.describe_volumes(VolumeIds=[from_snap["VolumeId"]])["Volumes"][0]
    assert kept["State"] == "available"  # DeleteOnTermination false: it stays
    demo.delete_volume(VolumeId=kept["VolumeId"])


def test_run_an_image_registered_from_a_snapshot(demo: Any, snapshot: str) -> None:
    image = demo.register_image(
        Name="boots-from-snapshot", RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": snapshot}}]
    )["ImageId"]
    (inst,) = demo.run_instances(ImageId=image, InstanceType=FLAVOR, MinCount=1,
                                 MaxCount=1)["Instances"]
    ident = inst["InstanceId"]
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)
    shown = _instance(demo, ident)
    assert shown["RootDeviceType"] == "ebs"
    (root,) = shown["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/vda" and root["Ebs"]["DeleteOnTermination"] is True
    (vol,) = demo.describe_volumes(VolumeIds=[root["Ebs"]["VolumeId"]])["Volumes"]
    assert vol["SnapshotId"] == snapshot
    demo.terminate_instances(InstanceIds=[ident])
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    deadline = time.monotonic() + 60
    while not _gone(demo, [vol["VolumeId"]]):
        assert time.monotonic() < deadline, "the root volume outlived its instance"
        time.sleep(1)
    demo.deregister_image(ImageId=image)


def test_bad_block_device_mappings_make_nothing(cloud: Ec2Cloud, demo: Any, ami: str,
                                                snapshot: str) -> None:
    servers = _servers(cloud)
    volumes = {v["VolumeId"] for v in demo.describe_volumes()["Volumes"]}
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([{"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}],
         "InvalidSnapshot.NotFound"),
        ([{"DeviceName": "/dev/floppy", "Ebs": {"VolumeSize": 1}}],
         "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sda1", "NoDevice": ""}], "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sdb", "Ebs": {"DeleteOnTermination": True}}],
         "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 1}},
          {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 1}}], "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 1, "VolumeType": "io9"}}],
         "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sdb", "VirtualName": "swap"}], "InvalidBlockDeviceMapping"),
        ([{"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 0}}], "InvalidParameterValue"),
        # the volume smaller than its snapshot's, or than the image
        ([{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 1, "SnapshotId": snapshot}},
          {"DeviceName": "/dev/sdb", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}],
         "InvalidSnapshot.NotFound"),
    ]
    for mappings, code in cases:
        with pytest.raises(ClientError) as err:
            demo.run_instances(ImageId=ami, InstanceType=FLAVOR, MinCount=1, MaxCount=1,
                               BlockDeviceMappings=mappings)
        assert _code(err) == code, (mappings, err.value.response)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _servers(cloud) == servers
    assert {v["VolumeId"] for v in demo.describe_volumes()["Volumes"]} == volumes
