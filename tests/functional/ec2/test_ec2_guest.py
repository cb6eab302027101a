"""The issue's acceptance with a real guest: the tiny guest under libvirt (QEMU TCG) on a
cloud whose networking service runs its data path, driven through boto3's ``ec2``
client and the ``aws ec2`` CLI with an EC2 credential.

One guest for the module (a TCG boot is the slow part): the aws CLI runs it with an
imported key pair, a security group allowing ICMP and SSH and the private subnet;
boto3 waits for it, reads its console, gives it an elastic IP that the outside
namespace (the external network's side, Strata's own) pings and reaches with ssh
and the key, attaches a volume that the guest sees come and go, stops and starts
it, and the aws CLI terminates it. All traffic stays in the cloud's namespaces and
bridges.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.config import StrataConfig
from network.dataplane import names
from tests.functional.compute.compute_server import ComputeCloud, compute_cloud, require_guests
from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, native_ids, private_subnet
from tests.functional.network.dataplane.guests import reaches, run_in

BOOT = 420.0  # a TCG guest on a loaded two-core machine, with room to spare
WAIT = {"Delay": 2, "MaxAttempts": int(BOOT / 2)}


class GuestCloud(Ec2Cloud, ComputeCloud):
    """A compute cloud on libvirt with the network data path, and its EC2 front."""

    @property
    def outside(self) -> str:
        """The namespace on the external network's far side (the world, here)."""
        return names.external_namespace(StrataConfig(home=self.home).network_instance())


@pytest.fixture(scope="module")
def gcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuestCloud]:
    require_guests()
    with compute_cloud(tmp_path_factory, STRATA_NETWORK_DATAPLANE="true") as c:
        cloud = GuestCloud(c.env)
        cloud.upload_tiny()
        yield cloud


def _console(client: Any, ident: str, pattern: str, within: float = BOOT) -> str:
    """The guest's console (GetConsoleOutput) once ``pattern`` is on it."""
    deadline = time.monotonic() + within
    out = ""
    while time.monotonic() < deadline:
        out = client.get_console_output(InstanceId=ident).get("Output") or ""  # decoded
        if re.search(pattern, out):
            return out
        time.sleep(2)
    raise AssertionError(f"{pattern!r} not on the console of {ident}:\n{out[-3000:]}")


def _ssh(netns: str, key: Path, address: str, command: str) -> subprocess.CompletedProcess[str]:
    return run_in(netns, "ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no",
                  "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                  "-o", "ConnectTimeout=20", f"root@{address}", command, timeout=90)


def _ssh_until(netns: str, key: Path, address: str, command: str, within: float = 120
               ) -> str:
    deadline = time.monotonic() + within
    while True:
        done = _ssh(netns, key, address, command)
        if done.returncode == 0:
            return done.stdout
        assert time.monotonic() < deadline, f"ssh {address} {command}: {done.stderr}"
        time.sleep(3)


def test_a_real_guest_through_boto3_and_the_aws_cli(gcloud: GuestCloud,
                                                     tmp_path: Path) -> None:
    started = time.monotonic()
    cred: Ec2Credential = gcloud.credential("demo")
    ec2 = gcloud.client(cred)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ec2-guest",
                    "-f", str(key)], check=True)
    ec2.import_key_pair(KeyName="guest", PublicKeyMaterial=key.with_suffix(".pub")
                        .read_bytes())
    group = ec2.create_security_group(GroupName="guest-ssh", Description="ping and ssh")[
        "GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ami = native_ids(gcloud, "image", [gcloud.tiny])[gcloud.tiny]
    subnet = private_subnet(ec2)

    made = gcloud.aws(cred, "run-instances", "--image-id", ami, "--instance-type", "m1.nano",
                      "--count", "1", "--key-name", "guest", "--security-group-ids", group,
                      "--subnet-id", subnet)
    (inst,) = made["Instances"]
    ident = inst["InstanceId"]
    ec2.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=WAIT)
    uuid = {v: k for k, v in native_ids(gcloud, "instance", [
        s["id"] for s in gcloud.nova("demo").ok("GET", "/servers")["servers"]]).items()}[ident]
    out = _console(ec2, ident, f"STRATA-TINY-READY {uuid}")
    assert "STRATA-TINY: public keys 1" in out and "ssh server on port 22" in out
    assert "root disk vda boot 1" in out
    listed = gcloud.aws(cred, "describe-instances", "--instance-ids", ident)
    shown = listed["Reservations"][0]["Instances"][0]
    assert shown["State"]["Name"] == "running" and shown["KeyName"] == "guest"
    assert shown["RootDeviceType"] == "instance-store"
    private = shown["PrivateIpAddress"]
    assert re.search(rf"dhcp address {re.escape(private)}/\d+ on eth0", out)

    # an elastic IP: the outside reaches the guest through it
    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=ident)
    public = alloc["PublicIp"]
    (desc,) = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"]
    assert desc["PublicIpAddress"] == public
    assert reaches(gcloud.outside, public), f"no ping answer from {public}"
    hostname = _ssh_until(gcloud.outside, key, public, "hostname")
    assert hostname.strip()

    # a volume: the guest sees it come and go
    vol = ec2.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    ec2.attach_volume(VolumeId=vol, InstanceId=ident, Device="/dev/sdf")
    ec2.get_waiter("volume_in_use").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    _console(ec2, ident, r"disk added vdb 2097152 sectors", within=120)
    partitions = _ssh_until(gcloud.outside, key, public, "cat /proc/partitions")
    assert re.search(r"\b1048576\s+vdb\b", partitions), partitions
    (desc,) = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"]
    assert [(m["DeviceName"], m["Ebs"]["VolumeId"]) for m in desc["BlockDeviceMappings"]] \
        == [("/dev/vdb", vol)]
    ec2.detach_volume(VolumeId=vol)
    ec2.get_waiter("volume_available").wait(VolumeIds=[vol], WaiterConfig=WAIT)
    _console(ec2, ident, r"disk removed vdb", within=120)
    ec2.delete_volume(VolumeId=vol)

    # stop and start: the same root disk boots again
    ec2.stop_instances(InstanceIds=[ident])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[ident], WaiterConfig=WAIT)
    ec2.start_instances(InstanceIds=[ident])
    ec2.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=WAIT)
    _console(ec2, ident, "root disk vda boot 2")
    assert reaches(gcloud.outside, public), "no ping answer after the start"

    ended = gcloud.aws(cred, "terminate-instances", "--instance-ids", ident)
    assert ended["TerminatingInstances"][0]["CurrentState"]["Name"] == "shutting-down"
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=WAIT)
    (gone,) = ec2.describe_instances(InstanceIds=[ident])["Reservations"][0]["Instances"]
    assert gone["State"]["Name"] == "terminated"
    ec2.release_address(AllocationId=alloc["AllocationId"])
    ec2.delete_security_group(GroupId=group)
    print(f"\nEC2 guest acceptance: {time.monotonic() - started:.0f} s after the cloud "
          "was up")
