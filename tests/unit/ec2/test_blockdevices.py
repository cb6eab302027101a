"""EC2 device names read as the guest's virtio disks, and the root volume of a server."""

from __future__ import annotations

import pytest

from ec2.core.blockdevices import disk_of, root_volume


@pytest.mark.parametrize(("name", "disk"), [
    ("/dev/sda1", "vda"), ("/dev/xvda", "vda"), ("/dev/vda", "vda"), ("sdb", "vdb"),
    ("/dev/xvdf", "vdf"), ("/dev/sdaa", "vdaa"), ("/dev/hdc2", "vdc"),
    ("/dev/floppy", None), ("/dev/sd", None), ("/dev/sda123", None), ("", None),
    ("/dev/nvme0n1", None)])
def test_device_names_as_disks(name: str, disk: str | None) -> None:
    assert disk_of(name) == disk


def test_the_root_volume_is_the_one_on_vda() -> None:
    server = {"id": "s1", "os-extended-volumes:volumes_attached": [{"id": "v2"}, {"id": "v1"}]}
    volumes = {
        "v1": {"id": "v1", "attachments": [{"server_id": "s1", "device": "/dev/vda"}]},
        "v2": {"id": "v2", "attachments": [{"server_id": "s1", "device": "/dev/vdb"}]}}
    assert root_volume(server, volumes) == volumes["v1"]
    volumes["v1"]["attachments"] = [{"server_id": "other", "device": "/dev/vda"}]
    assert root_volume(server, volumes) is None
    assert root_volume({"id": "s1"}, volumes) is None
