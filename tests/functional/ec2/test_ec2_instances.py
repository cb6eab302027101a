"""Key pairs and instances through boto3's ``ec2`` client: compute's key pairs and
servers (its in-memory hypervisor), seen through the native API too, with EC2's
states, reservations, filters, waiters and errors."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from compute.virt import configdrive
from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, native_ids

ED25519 = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDR6wbJ2Vjs1ZmtsvfXzYrTmOGmkUZcZuv0JAbc7Khx8 "
           "test@strata")
FLAVOR = "m1.nano"
FAST = {"Delay": 1, "MaxAttempts": 120}


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def _nova(cloud: Ec2Cloud, who: str, method: str, path: str, **kw: Any) -> Any:
    api = cloud.api(who)
    r = requests.request(method, cloud.url("compute") + "/v2.1" + path, timeout=60,
                         headers={"X-Auth-Token": api.token,
                                  "OpenStack-API-Version": "compute 2.79"}, **kw)
    return r


# -- key pairs ------------------------------------------------------------------------------


def test_key_pairs_create_import_describe_delete(cloud: Ec2Cloud, demo: Any,
                                                third: Any) -> None:
    made = demo.create_key_pair(KeyName="made")
    assert made["KeyMaterial"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert made["KeyPairId"].startswith("key-") and made["KeyName"] == "made"
    imported = demo.import_key_pair(KeyName="imported", PublicKeyMaterial=ED25519.encode(),
                                    TagSpecifications=[{"ResourceType": "key-pair",
                                                        "Tags": [{"Key": "k", "Value": "v"}]}])
    blob = base64.b64decode(ED25519.split()[1])
    md5 = hashlib.md5(blob).hexdigest()
    assert imported["KeyFingerprint"].replace(":", "") == md5
    pairs = {k["KeyName"]: k for k in demo.describe_key_pairs()["KeyPairs"]}
    assert set(pairs) == {"made", "imported"}
    assert pairs["imported"]["KeyPairId"] == imported["KeyPairId"]
    assert pairs["imported"]["KeyType"] == "ed25519"
    assert pairs["imported"]["Tags"] == [{"Key": "k", "Value": "v"}]
    assert pairs["made"]["KeyPairId"] == made["KeyPairId"]
    # the same key pairs through compute's own API
    native = _nova(cloud, "demo", "GET", "/os-keypairs").json()["keypairs"]
    assert {k["keypair"]["name"] for k in native} == {"made", "imported"}
    (one,) = demo.describe_key_pairs(KeyNames=["imported"], IncludePublicKey=True)["KeyPairs"]
    assert one["PublicKey"] == ED25519
    by_id = demo.describe_key_pairs(KeyPairIds=[made["KeyPairId"]])["KeyPairs"]
    assert [k["KeyName"] for k in by_id] == ["made"]
    filtered = demo.describe_key_pairs(Filters=[{"Name": "key-name", "Values": ["imp*"]}])
    assert [k["KeyName"] for k in filtered["KeyPairs"]] == ["imported"]
    assert third.describe_key_pairs()["KeyPairs"] == []

    with pytest.raises(ClientError) as err:
        demo.describe_key_pairs(KeyNames=["nothing"])
    assert _code(err) == "InvalidKeyPair.NotFound"
    with pytest.raises(ClientError) as err:
        demo.create_key_pair(KeyName="made")
    assert _code(err) == "InvalidKeyPair.Duplicate"
    with pytest.raises(ClientError) as err:
        demo.import_key_pair(KeyName="imported", PublicKeyMaterial=ED25519.encode())
    assert _code(err) == "InvalidKeyPair.Duplicate"
    with pytest.raises(ClientError) as err:
        demo.import_key_pair(KeyName="bad", PublicKeyMaterial=b"not a key at all")
    assert _code(err) == "InvalidKey.Format"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "bad" not in {k["KeyName"] for k in demo.describe_key_pairs()["KeyPairs"]}

    demo.delete_key_pair(KeyName="made")
    demo.delete_key_pair(KeyPairId=imported["KeyPairId"])
    demo.delete_key_pair(KeyName="never-was")  # as EC2: no error
    assert demo.describe_key_pairs()["KeyPairs"] == []
    with pytest.raises(ClientError) as err:
        demo.delete_key_pair(KeyPairId=imported["KeyPairId"])
    assert _code(err) == "InvalidKeyPair.NotFound"


# -- instances ------------------------------------------------------------------------------


def test_run_describe_stop_start_reboot_terminate(cloud: Ec2Cloud, demo: Any,
                                                  demo_cred: Ec2Credential, third: Any,
                                                  ami: str, subnet: str) -> None:
    demo.import_key_pair(KeyName="runner", PublicKeyMaterial=ED25519.encode())
    group = demo.create_security_group(GroupName="instances-web", Description="web")["GroupId"]
    user_data = b"#!/bin/sh\necho hello\n"
    rsv = demo.run_instances(
        ImageId=ami, InstanceType=FLAVOR, MinCount=2, MaxCount=2, KeyName="runner",
        SecurityGroupIds=[group], SubnetId=subnet, UserData=user_data.decode(),  # botocore encodes
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "role", "Value": "web"}]}])
    assert rsv["ReservationId"].startswith("r-") and rsv["OwnerId"] == demo_cred.project_id
    insts = rsv["Instances"]
    assert len(insts) == 2 and [i["AmiLaunchIndex"] for i in insts] == [0, 1]
    first, second = (i["InstanceId"] for i in insts)
    assert all(i["ImageId"] == ami and i["InstanceType"] == FLAVOR for i in insts)
    assert all(i["KeyName"] == "runner" for i in insts)
    assert {i["State"]["Name"] for i in insts} <= {"pending", "running"}

    demo.get_waiter("instance_running").wait(InstanceIds=[first, second],
                                             WaiterConfig=FAST)
    (r,) = demo.describe_instances(InstanceIds=[first, second])["Reservations"]
    assert r["ReservationId"] == rsv["ReservationId"]
    assert {i["State"]["Code"] for i in r["Instances"]} == {16}
    assert [g["GroupId"] for g in r["Instances"][0]["SecurityGroups"]] == [group]
    assert all(i["PrivateIpAddress"].startswith("10.0.0.") for i in r["Instances"])
    assert {i["SubnetId"] for i in r["Instances"]} == {subnet}
    assert {(i["RootDeviceType"], len(i["BlockDeviceMappings"])) for i in r["Instances"]} \
        == {("instance-store", 0)}
    in_subnet = demo.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
    assert {first, second} <= {i["InstanceId"] for r in in_subnet["Reservations"]
                               for i in r["Instances"]}
    assert r["Instances"][0]["Tags"] == [{"Key": "role", "Value": "web"}]
    # the same servers through compute's own API, with the user data given
    uuids = {v: k for k, v in native_ids(cloud, "instance", [
        s["id"] for s in _nova(cloud, "demo", "GET", "/servers").json()["servers"]]).items()}
    assert {first, second} <= set(uuids)
    shown = _nova(cloud, "demo", "GET", f"/servers/{uuids[first]}").json()["server"]
    assert shown["status"] == "ACTIVE" and shown["key_name"] == "runner"
    assert [g["name"] for g in shown["security_groups"]] == ["instances-web"]
    as_admin = _nova(cloud, "admin", "GET", f"/servers/{uuids[first]}").json()["server"]
    assert base64.b64decode(as_admin["OS-EXT-SRV-ATTR:user_data"]) == user_data

    # the guest is told the ids the EC2 API shows, by the metadata service (asked as
    # the data path's proxy asks it for the guest)
    (fixed,) = [a["addr"] for net in shown["addresses"].values() for a in net]
    net_id = requests.get(cloud.url("network") + "/v2.0/ports", timeout=30, params={
        "device_id": uuids[first]}, headers={"X-Auth-Token": cloud.api("admin").token}
    ).json()["ports"][0]["network_id"]
    meta = f"http://127.0.0.1:{cloud.env['STRATA_COMPUTE_METADATA_PORT']}/latest/meta-data"
    asked = {"X-Forwarded-For": fixed, "X-Neutron-Network-ID": net_id}
    for path, want in (("instance-id", first), ("ami-id", ami)):
        r = requests.get(f"{meta}/{path}", headers=asked, timeout=30)
        assert (r.status_code, r.text) == (200, want)

    by_tag = demo.describe_instances(Filters=[{"Name": "tag:role", "Values": ["web"]}])
    assert {i["InstanceId"] for r in by_tag["Reservations"] for i in r["Instances"]} == {
        first, second}
    running = demo.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "instance-id", "Values": [first]}])
    assert [i["InstanceId"] for r in running["Reservations"] for i in r["Instances"]] == [
        first]
    assert third.describe_instances()["Reservations"] == []
    pages = list(demo.get_paginator("describe_instances").paginate(
        PaginationConfig={"PageSize": 5}))
    paged = [i["InstanceId"] for pg in pages for r in pg["Reservations"]
             for i in r["Instances"]]
    assert {first, second} <= set(paged) and len(paged) == len(set(paged))
    # the aws CLI sees the same
    listed = cloud.aws(demo_cred, "describe-instances", "--instance-ids", first)
    assert listed["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
    with pytest.raises(ClientError) as err:
        third.describe_instances(InstanceIds=[first])
    assert _code(err) == "InvalidInstanceID.NotFound"

    console = demo.get_console_output(InstanceId=first)
    assert "STRATA-MEMORY: boot" in console["Output"]

    # a running instance's start is no change; its stop and start go through compute
    started = demo.start_instances(InstanceIds=[first])["StartingInstances"]
    assert started[0]["CurrentState"]["Name"] == "running"
    stopping = demo.stop_instances(InstanceIds=[first])["StoppingInstances"]
    assert stopping[0]["PreviousState"]["Name"] == "running"
    assert stopping[0]["CurrentState"]["Name"] == "stopping"
    demo.get_waiter("instance_stopped").wait(InstanceIds=[first], WaiterConfig=FAST)
    assert _nova(cloud, "demo", "GET", f"/servers/{uuids[first]}").json()[
        "server"]["status"] == "SHUTOFF"
    with pytest.raises(ClientError) as err:
        demo.reboot_instances(InstanceIds=[first])
    assert _code(err) == "IncorrectInstanceState"
    with pytest.raises(ClientError) as err:  # one stopped: none of them is rebooted
        demo.reboot_instances(InstanceIds=[second, first])
    assert _code(err) == "IncorrectInstanceState"
    demo.start_instances(InstanceIds=[first])
    demo.get_waiter("instance_running").wait(InstanceIds=[first], WaiterConfig=FAST)
    demo.reboot_instances(InstanceIds=[second])

    with pytest.raises(ClientError) as err:
        demo.terminate_instances(InstanceIds=[first, "i-0123456789abcdef0"])
    assert _code(err) == "InvalidInstanceID.NotFound"
    assert demo.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0][
        "State"]["Name"] == "running"  # nothing was terminated
    ended = demo.terminate_instances(InstanceIds=[first, second])["TerminatingInstances"]
    assert {e["CurrentState"]["Name"] for e in ended} == {"shutting-down"}
    demo.get_waiter("instance_terminated").wait(InstanceIds=[first, second],
                                                WaiterConfig=FAST)
    gone = demo.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]
    assert gone["State"] == {"Code": 48, "Name": "terminated"}
    assert _nova(cloud, "demo", "GET", f"/servers/{uuids[first]}").status_code == 404
    with pytest.raises(ClientError) as err:
        demo.stop_instances(InstanceIds=[first])
    assert _code(err) == "IncorrectInstanceState"
    # the other modules of the package share the cloud: leave nothing of ours behind
    demo.delete_tags(Resources=[first, second])
    demo.delete_security_group(GroupId=group)
    demo.delete_key_pair(KeyName="runner")


def test_run_instances_bad_input_makes_nothing(cloud: Ec2Cloud, demo: Any, reader: Any,
                                               demo_cred: Ec2Credential, ami: str) -> None:
    def servers() -> set[str]:
        listed = _nova(cloud, "demo", "GET", "/servers").json()["servers"]
        return {s["id"] for s in listed}

    before = servers()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ImageId": "ami-0123456789abcdef0"}, "InvalidAMIID.NotFound"),
        ({"ImageId": "nonsense"}, "InvalidAMIID.Malformed"),
        ({"InstanceType": "m9.huge"}, "InvalidParameterValue"),
        ({"KeyName": "no-such-key"}, "InvalidKeyPair.NotFound"),
        ({"SecurityGroupIds": ["sg-0123456789abcdef0"]}, "InvalidGroup.NotFound"),
        ({"SubnetId": "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound"),
        ({"MinCount": 3, "MaxCount": 2}, "InvalidParameterValue"),
    ]
    for extra, code in cases:
        args: dict[str, Any] = {"ImageId": ami, "InstanceType": FLAVOR, "MinCount": 1,
                                "MaxCount": 1, **extra}
        with pytest.raises(ClientError) as err:
            demo.run_instances(**args)
        assert _code(err) == code, (extra, err.value.response)
        assert 400 <= err.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    # botocore encodes UserData itself: what is not base64 is sent raw
    raw = cloud.raw(demo_cred, {"Action": "RunInstances", "ImageId": ami, "MinCount": "1",
                                "MaxCount": "1", "InstanceType": FLAVOR,
                                "UserData": "%%% not base64"})
    assert (raw.status, raw.code) == (400, "InvalidParameterValue")
    good = {"ImageId": ami, "InstanceType": FLAVOR, "MinCount": 1, "MaxCount": 1}
    with pytest.raises(ClientError) as err:
        reader.run_instances(**good)
    assert _code(err) == "UnauthorizedOperation"
    with pytest.raises(ClientError) as err:
        demo.run_instances(DryRun=True, **good)
    assert _code(err) == "DryRunOperation"
    assert servers() == before
    for call in (demo.stop_instances, demo.start_instances, demo.reboot_instances,
                 demo.terminate_instances):
        with pytest.raises(ClientError) as err:
            call(InstanceIds=["i-0123456789abcdef0"])
        assert _code(err) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        demo.get_console_output(InstanceId="i-0123456789abcdef0")
    assert _code(err) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        demo.describe_instances(InstanceIds=["vol-0123456789abcdef0"])
    assert _code(err) == "InvalidInstanceID.Malformed"


def test_a_server_made_natively_is_described(cloud: Ec2Cloud, demo: Any, ami: str) -> None:
    image_uuid = {v: k for k, v in native_ids(cloud, "image", [
        i["id"] for i in cloud.api("demo").request("GET", "/v2/images").json()["images"]
    ]).items()}[ami]
    r = _nova(cloud, "demo", "POST", "/servers", json={"server": {
        "name": "native", "imageRef": image_uuid, "flavorRef": "42", "networks": "none",
        "config_drive": True}})
    assert r.status_code == 202, r.text
    uuid = r.json()["server"]["id"]
    ident = native_ids(cloud, "instance", [uuid])[uuid]
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)
    # its config drive, written before EC2 showed it, tells the guest the same ids
    drive = configdrive.read_iso(cloud.var / "compute" / "instances" / uuid / "disk.config")
    told = json.loads(drive["ec2/latest/meta-data.json"])
    assert (told["instance-id"], told["ami-id"]) == (ident, ami)
    (rsv,) = demo.describe_instances(InstanceIds=[ident])["Reservations"]
    assert rsv["ReservationId"].startswith("r-")
    assert rsv["Instances"][0]["ImageId"] == ami
    assert rsv["Instances"][0]["InstanceType"] == FLAVOR
    demo.create_tags(Resources=[ident], Tags=[{"Key": "made", "Value": "natively"}])
    tagged = demo.describe_instances(Filters=[{"Name": "tag:made", "Values": ["natively"]}])
    assert [i["InstanceId"] for r in tagged["Reservations"] for i in r["Instances"]] == [
        ident]
    demo.terminate_instances(InstanceIds=[ident])
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    demo.delete_tags(Resources=[ident])


def test_attach_and_detach_a_volume(cloud: Ec2Cloud, demo: Any, third: Any, ami: str,
                                    subnet: str) -> None:
    (inst,) = demo.run_instances(ImageId=ami, InstanceType=FLAVOR, MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"]
    ident = inst["InstanceId"]
    vol = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    demo.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)

    with pytest.raises(ClientError) as err:
        demo.attach_volume(VolumeId="vol-0123456789abcdef0", InstanceId=ident,
                           Device="/dev/sdf")
    assert _code(err) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as err:
        demo.attach_volume(VolumeId=vol, InstanceId="i-0123456789abcdef0", Device="/dev/sdf")
    assert _code(err) == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as err:
        third.attach_volume(VolumeId=vol, InstanceId=ident, Device="/dev/sdf")
    assert _code(err) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as err:
        demo.attach_volume(VolumeId=vol, InstanceId=ident, Device="not a device")
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        demo.detach_volume(VolumeId=vol)
    assert _code(err) == "IncorrectState"
    assert demo.describe_volumes(VolumeIds=[vol])["Volumes"][0]["State"] == "available"

    made = demo.attach_volume(VolumeId=vol, InstanceId=ident, Device="/dev/sdf")
    assert (made["VolumeId"], made["InstanceId"], made["State"]) == (vol, ident, "attaching")
    demo.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=FAST)
    (shown,) = demo.describe_volumes(VolumeIds=[vol])["Volumes"]
    assert [(a["InstanceId"], a["Device"]) for a in shown["Attachments"]] == [
        (ident, made["Device"])]
    console = ""
    for _ in range(60):  # the in-memory guest notes the disk on its console
        console = demo.get_console_output(InstanceId=ident).get("Output", "")
        if "disk added" in console:
            break
        time.sleep(1)
    assert "STRATA-MEMORY: disk added" in console
    with pytest.raises(ClientError) as err:
        demo.attach_volume(VolumeId=vol, InstanceId=ident, Device="/dev/sdg")
    assert _code(err) == "VolumeInUse"

    gone = demo.detach_volume(VolumeId=vol, InstanceId=ident)
    assert (gone["State"], gone["InstanceId"]) == ("detaching", ident)
    demo.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=FAST)
    assert demo.describe_volumes(VolumeIds=[vol])["Volumes"][0]["Attachments"] == []
    demo.terminate_instances(InstanceIds=[ident])
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    demo.delete_volume(VolumeId=vol)


def test_the_aws_cli_runs_describes_and_terminates(cloud: Ec2Cloud, demo: Any,
                                                   demo_cred: Ec2Credential, ami: str,
                                                   subnet: str) -> None:
    made = cloud.aws(demo_cred, "run-instances", "--image-id", ami, "--instance-type",
                     FLAVOR, "--count", "1", "--subnet-id", subnet)
    (inst,) = made["Instances"]
    ident = inst["InstanceId"]
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)
    shown = cloud.aws(demo_cred, "describe-instances", "--filters",
                      "Name=instance-state-name,Values=running", "Name=image-id,Values="
                      + ami)
    assert ident in {i["InstanceId"] for r in shown["Reservations"] for i in r["Instances"]}
    ended = cloud.aws(demo_cred, "terminate-instances", "--instance-ids", ident)
    assert ended["TerminatingInstances"][0]["InstanceId"] == ident
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    bad = cloud.aws(demo_cred, "terminate-instances", "--instance-ids",
                    "i-0123456789abcdef0", check=False)
    assert bad.returncode != 0 and "InvalidInstanceID.NotFound" in bad.stderr
