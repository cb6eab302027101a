"""What a server's image says (createImage, shelve), the devices an image of volume
snapshots boots from, and the resize body's checks."""

from __future__ import annotations

import json

import pytest

from compute import models as m
from compute.core import resize, snapshots
from compute.errors import Invalid


def server(image_ref: str = "img-1", root_gb: int = 1) -> m.Instance:
    return m.Instance(
        uuid="8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10", user_id="u1", project_id="p1",
        image_ref=image_ref, root_gb=root_gb, root_device_name="/dev/vda",
        image_meta={"kernel_id": "k1", "ramdisk_id": "r1", "os_command_line": "console=ttyS0",
                    "min_ram": 64, "min_disk": 0, "checksum": "not kept"})


def test_an_image_backed_snapshot_says_what_booting_needs_again() -> None:
    fields = snapshots.image_fields(server(), "snap", {"role": "web"})
    assert fields == {
        "name": "snap", "container_format": "bare", "disk_format": "qcow2",
        "visibility": "private", "min_ram": 64, "min_disk": 1, "kernel_id": "k1",
        "ramdisk_id": "r1", "os_command_line": "console=ttyS0", "role": "web",
        "image_type": "snapshot", "instance_uuid": "8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10",
        "user_id": "u1", "base_image_ref": "img-1"}
    # a volume-backed server's image has no data and no base image
    volume = snapshots.image_fields(server("", 0), "snap", {})
    assert volume["disk_format"] == "raw" and "base_image_ref" not in volume


def test_an_image_of_volume_snapshots_names_the_devices_to_boot_from() -> None:
    bdm = m.BlockDeviceMapping(boot_index=0, device_name="/dev/vda",
                               delete_on_termination=True, volume_type=None, tag=None)
    entry = snapshots.snapshot_mapping(bdm, "snap-1", 2)
    image = {"id": "i", "bdm_v2": "True", "block_device_mapping": json.dumps([
        entry, {"source_type": "blank", "destination_type": "local", "no_device": True}])}
    (device,) = snapshots.image_devices(image)
    assert (device.source_type, device.destination_type, device.uuid, device.boot_index,
            device.volume_size, device.delete_on_termination) == (
        "snapshot", "volume", "snap-1", 0, 2, True)
    assert snapshots.image_devices({"id": "plain"}) == ()
    with pytest.raises(Invalid):
        snapshots.image_devices({"id": "i", "bdm_v2": "true", "block_device_mapping": "{"})


@pytest.mark.parametrize("body", [None, {}, {"flavorRef": ""}, {"flavorRef": True},
                                  {"flavorRef": "1", "extra": 1},
                                  {"flavorRef": "1", "OS-DCF:diskConfig": "SOMETIMES"}])
def test_a_resize_body_needs_one_flavor_ref(body: object) -> None:
    with pytest.raises(Invalid):
        resize.parse(body)


def test_resize_parse_and_the_metadata_it_leaves() -> None:
    assert resize.parse({"flavorRef": 2, "OS-DCF:diskConfig": "AUTO"}) == "2"
    meta = {"old_flavor": {}, "new_flavor": {}, "old_vm_state": "active",
            "old_root_gb": 1, "shelved_at": "x"}
    assert resize.finished(meta) == {"shelved_at": "x"}
    assert resize.flavor_values({"vcpus": 2, "memory_mb": 512, "ephemeral_gb": None}, 5) == {
        "flavor": {"vcpus": 2, "memory_mb": 512, "ephemeral_gb": None}, "vcpus": 2,
        "memory_mb": 512, "root_gb": 5, "ephemeral_gb": 0}
