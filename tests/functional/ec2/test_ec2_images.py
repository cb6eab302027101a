"""Images through boto3 and the aws CLI: the image service's, with owners, filters,
kernels and ramdisks, images registered from snapshots, and launch permission as
visibility and members."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, native_ids


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def _upload(cloud: Ec2Cloud, who: str, name: str, fmt: str = "raw", **extra: Any) -> str:
    api = cloud.api(who)
    container = fmt if fmt in ("aki", "ari", "ami") else "bare"
    img = api.create(name=name, disk_format=fmt, container_format=container, **extra)
    r = api.upload(img["id"], b"\x01" * 4096)
    assert r.status_code == 204, r.text
    return str(img["id"])


def test_images_with_owners_filters_kernels_and_ramdisks(
        cloud: Ec2Cloud, demo: Any, demo_cred: Ec2Credential) -> None:
    kernel = _upload(cloud, "demo", "k", "aki")
    ramdisk = _upload(cloud, "demo", "r", "ari")
    machine = _upload(cloud, "demo", "m", "ami", kernel_id=kernel, ramdisk_id=ramdisk,
                      architecture="x86_64")
    public = _upload(cloud, "admin", "everyone", visibility="public")
    ids = native_ids(cloud, "image", [kernel, ramdisk, machine, public],
                     {kernel: "aki", ramdisk: "ari"})
    assert ids[kernel].startswith("aki-") and ids[ramdisk].startswith("ari-")
    assert ids[machine].startswith("ami-") and ids[public].startswith("ami-")
    mine = demo.describe_images(Owners=["self"])["Images"]
    assert {i["ImageId"] for i in mine} == {ids[kernel], ids[ramdisk], ids[machine]}
    (m,) = demo.describe_images(ImageIds=[ids[machine]])["Images"]
    assert m["KernelId"] == ids[kernel] and m["RamdiskId"] == ids[ramdisk]
    assert m["ImageType"] == "machine" and m["State"] == "available"
    assert m["Public"] is False and m["RootDeviceType"] == "instance-store"
    assert m["OwnerId"] == demo_cred.project_id and m["Name"] == "m"
    everyone = demo.describe_images(ExecutableUsers=["all"])["Images"]
    assert [i["ImageId"] for i in everyone] == [ids[public]]
    kernels = demo.describe_images(Filters=[{"Name": "image-type", "Values": ["kernel"]}])
    assert [i["ImageId"] for i in kernels["Images"]] == [ids[kernel]]
    named = cloud.aws(demo_cred, "describe-images", "--filters", "Name=name,Values=every*")
    assert [i["ImageId"] for i in named["Images"]] == [ids[public]]
    assert named["Images"][0]["Public"] is True
    with pytest.raises(ClientError) as err:
        demo.describe_images(ImageIds=["ami-0123456789abcdef0"])
    assert _code(err) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as err:
        demo.describe_images(ImageIds=["vol-0123456789abcdef0"])
    assert _code(err) == "InvalidAMIID.Malformed"
    attr = demo.describe_image_attribute(ImageId=ids[machine], Attribute="kernel")
    assert attr["KernelId"] == {"Value": ids[kernel]}


def test_register_an_image_from_a_snapshot(cloud: Ec2Cloud, demo: Any, third: Any,
                                           admin: Any, third_cred: Ec2Credential) -> None:
    vid = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    demo.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
    sid = demo.create_snapshot(VolumeId=vid)["SnapshotId"]
    demo.get_waiter("snapshot_completed").wait(SnapshotIds=[sid], WaiterConfig={"Delay": 1})
    ami = demo.register_image(Name="from-snap", Description="an EBS root",
                              RootDeviceName="/dev/vda", BlockDeviceMappings=[
                                  {"DeviceName": "/dev/vda",
                                   "Ebs": {"SnapshotId": sid, "VolumeSize": 2}}])["ImageId"]
    (img,) = demo.describe_images(ImageIds=[ami])["Images"]
    assert img["RootDeviceType"] == "ebs" and img["RootDeviceName"] == "/dev/vda"
    assert img["BlockDeviceMappings"] == [{"DeviceName": "/dev/vda", "Ebs": {
        "SnapshotId": sid, "VolumeSize": 2, "DeleteOnTermination": True,
        "VolumeType": "standard", "Encrypted": False}}]
    assert img["Description"] == "an EBS root" and img["State"] == "available"
    natives = {i["ID"]: i for i in cloud.osc("demo", "image", "list")}
    (uuid,) = [u for u, e in native_ids(cloud, "image", list(natives)).items() if e == ami]
    shown = cloud.osc("demo", "image", "show", uuid)
    assert '"snapshot_id"' in str(shown["properties"]["block_device_mapping"])
    with pytest.raises(ClientError) as err:
        demo.register_image(Name="from-snap", BlockDeviceMappings=[
            {"DeviceName": "/dev/vda", "Ebs": {"SnapshotId": sid}}])
    assert _code(err) == "InvalidAMIName.Duplicate"
    with pytest.raises(ClientError) as err:
        demo.register_image(Name="no-root", BlockDeviceMappings=[
            {"DeviceName": "/dev/vda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0"}}])
    assert _code(err) == "InvalidSnapshot.NotFound"

    # description, and launch permission: a member project, then everyone (admins only)
    demo.modify_image_attribute(ImageId=ami, Description={"Value": "changed"})
    assert demo.describe_image_attribute(ImageId=ami, Attribute="description")[
        "Description"] == {"Value": "changed"}
    with pytest.raises(ClientError) as err:
        third.describe_images(ImageIds=[ami])
    assert _code(err) == "InvalidAMIID.NotFound"
    demo.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [
        {"UserId": third_cred.project_id}]})
    perms = demo.describe_image_attribute(ImageId=ami, Attribute="launchPermission")
    assert perms["LaunchPermissions"] == [{"UserId": third_cred.project_id}]
    assert [i["ImageId"] for i in third.describe_images(ImageIds=[ami])["Images"]] == [ami]
    assert ami in {i["ImageId"] for i in third.describe_images(ExecutableUsers=["self"])[
        "Images"]}
    with pytest.raises(ClientError) as err:
        demo.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [
            {"Group": "all"}]})
    assert _code(err) == "UnauthorizedOperation"  # only admins publicize, as natively
    admin.modify_image_attribute(ImageId=ami, Attribute="launchPermission",
                                 OperationType="add", UserGroups=["all"])
    assert demo.describe_images(ImageIds=[ami])["Images"][0]["Public"] is True
    admin.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [
        {"Group": "all"}]})
    demo.modify_image_attribute(ImageId=ami, LaunchPermission={"Remove": [
        {"UserId": third_cred.project_id}]})
    assert demo.describe_images(ImageIds=[ami])["Images"][0]["Public"] is False
    with pytest.raises(ClientError) as err:
        third.describe_images(ImageIds=[ami])
    assert _code(err) == "InvalidAMIID.NotFound"
    with pytest.raises(ClientError) as err:
        third.deregister_image(ImageId=ami)
    assert _code(err) == "InvalidAMIID.NotFound"

    demo.deregister_image(ImageId=ami)
    assert uuid not in {i["ID"] for i in cloud.osc("demo", "image", "list")}
    with pytest.raises(ClientError) as err:
        demo.describe_images(ImageIds=[ami])
    assert _code(err) == "InvalidAMIID.NotFound"
    deadline = time.monotonic() + 60
    demo.delete_snapshot(SnapshotId=sid)
    while sid in {s["SnapshotId"] for s in demo.describe_snapshots()["Snapshots"]}:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    demo.delete_volume(VolumeId=vid)
