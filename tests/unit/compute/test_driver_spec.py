"""The contract's plain data: spec validation, connection info, device names, states."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from compute.errors import InvalidInstanceState, InvalidSpec
from compute.virt.driver import (
    ALLOWED,
    Disk,
    InstanceSpec,
    IscsiDisk,
    LocalDisk,
    Nic,
    PowerState,
    check_state,
    next_device,
    validate_spec,
)

UUID = "8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10"


def good(tmp_path: Path) -> InstanceSpec:
    (tmp_path / "disk").write_bytes(b"x")
    return InstanceSpec(uuid=UUID, name="a", vcpus=1, memory_mib=128,
                        disks=(Disk(LocalDisk(str(tmp_path / "disk"))),),
                        console_log=str(tmp_path / "console.log"))


def test_a_good_spec_passes(tmp_path: Path) -> None:
    validate_spec(good(tmp_path))


@pytest.mark.parametrize("change", [
    {"uuid": "NOT-A-UUID"}, {"vcpus": 0}, {"vcpus": 1000}, {"memory_mib": 8},
    {"disks": ()}, {"console_log": "relative.log"},
    {"disks": (Disk(LocalDisk("/nonexistent/disk")),)},
    {"nics": (Nic("zz:16:3e:00:00:01", "tap1", "br1"),)},
    {"nics": (Nic("fa:16:3e:00:00:01", "a-name-much-too-long", "br1"),)},
    {"nics": (Nic("fa:16:3e:00:00:01", "tap1", "br1", mtu=20),)},
    {"nics": (Nic("fa:16:3e:00:00:01", "tap1", "br1"), Nic("FA:16:3E:00:00:01", "tap2", "br1"))},
    {"config_drive": "/nonexistent/config.iso"},
])
def test_bad_specs_say_why(tmp_path: Path, change: dict[str, object]) -> None:
    with pytest.raises(InvalidSpec) as err:
        validate_spec(dataclasses.replace(good(tmp_path), **change))  # type: ignore[arg-type]
    assert err.value.status == 400 and err.value.message


def test_iscsi_disk_from_cinder_connection_info() -> None:
    info = {"driver_volume_type": "iscsi", "data": {
        "target_portal": "[::1]:3260", "target_iqn": "iqn.x:v", "target_lun": 1,
        "auth_method": "CHAP", "auth_username": "u", "auth_password": "p"}}
    disk = IscsiDisk.from_connection_info(info)
    assert disk == IscsiDisk("[::1]:3260", "iqn.x:v", 1, "u", "p")
    assert disk.host_port() == ("::1", 3260)
    with pytest.raises(InvalidSpec):
        IscsiDisk.from_connection_info({"driver_volume_type": "rbd", "data": {}})
    with pytest.raises(InvalidSpec):
        IscsiDisk.from_connection_info({"data": {"target_portal": "h:1"}})


def test_next_device() -> None:
    assert next_device([]) == "vda"
    assert next_device(["vda", "vdb"]) == "vdc"
    assert next_device([f"vd{c}" for c in "abcdefghijklmnopqrstuvwxyz"]) == "vdaa"


def test_state_table() -> None:
    check_state(UUID, "pause", PowerState.RUNNING)
    with pytest.raises(InvalidInstanceState) as err:
        check_state(UUID, "pause", PowerState.SHUTDOWN)
    assert err.value.status == 409 and "pause" in err.value.message
    assert ALLOWED["hard_reboot"] == frozenset(PowerState)
    assert PowerState.SUSPENDED not in ALLOWED["attach"]


def test_tail_lines() -> None:
    from compute.virt.memory import tail_lines

    text = "a\nb\r\nc\n"
    assert tail_lines(text, None) == text
    assert tail_lines(text, 2) == "b\r\nc\n"
    assert tail_lines(text, 10) == text
    assert tail_lines(text, 0) == ""
