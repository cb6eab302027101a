"""The config drive, written with pycdlib and read back."""

from __future__ import annotations

import json
from pathlib import Path

from compute.virt import configdrive

DATA = configdrive.ConfigDriveData(
    uuid="8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10", name="vm1", hostname="vm1",
    project_id="p1", public_keys={"mykey": "ssh-ed25519 AAAAC3Nza test@host\n"},
    user_data=b"#!/bin/sh\necho hi\n", meta={"role": "web"},
    network_data={"links": [], "networks": [], "services": []},
    vendor_data={"v": 1}, vendor_data2={"static": {}}, files=[("/etc/motd", b"hello")],
    ec2_instance_id="i-00000001", instance_type="m1.nano", local_ipv4="10.0.0.5")


def test_layout_and_label(tmp_path: Path) -> None:
    iso = tmp_path / "disk.config"
    configdrive.build(DATA, iso)
    assert configdrive.volume_label(iso) == "config-2"
    files = configdrive.read_iso(iso)
    for version in (*configdrive.OPENSTACK_VERSIONS, "latest"):
        assert f"openstack/{version}/meta_data.json" in files
        assert files[f"openstack/{version}/user_data"] == DATA.user_data
    assert "openstack/2012-08-10/network_data.json" not in files
    assert "openstack/2012-08-10/vendor_data.json" not in files
    assert "openstack/2015-10-15/network_data.json" in files
    assert "openstack/2016-06-30/vendor_data2.json" not in files
    assert "openstack/2016-10-06/vendor_data2.json" in files
    for version in ("2009-04-04", "latest"):
        assert f"ec2/{version}/meta-data.json" in files
        assert files[f"ec2/{version}/user-data"] == DATA.user_data
    assert files["openstack/content/0000"] == b"hello"


def test_meta_data_contents(tmp_path: Path) -> None:
    iso = tmp_path / "disk.config"
    configdrive.build(DATA, iso)
    files = configdrive.read_iso(iso)
    raw = files["openstack/latest/meta_data.json"]
    assert b"\n" not in raw  # one line: the tiny guest reads it with sed
    meta = json.loads(raw)
    assert meta["uuid"] == DATA.uuid and meta["hostname"] == "vm1"
    assert meta["public_keys"] == {"mykey": "ssh-ed25519 AAAAC3Nza test@host\n"}
    assert meta["keys"][0] == {"name": "mykey", "type": "ssh",
                               "data": "ssh-ed25519 AAAAC3Nza test@host\n"}
    assert meta["meta"] == {"role": "web"} and meta["project_id"] == "p1"
    assert meta["launch_index"] == 0 and meta["availability_zone"] == "nova"
    assert meta["files"] == [{"path": "/etc/motd", "content_path": "/content/0000"}]
    assert len(meta["random_seed"]) > 600
    assert "random_seed" not in json.loads(files["openstack/2012-08-10/meta_data.json"])
    assert json.loads(files["openstack/latest/network_data.json"]) == dict(DATA.network_data)
    ec2 = json.loads(files["ec2/latest/meta-data.json"])
    assert ec2["instance-id"] == "i-00000001" and ec2["instance-type"] == "m1.nano"
    assert ec2["public-keys"]["0"]["openssh-key"].startswith("ssh-ed25519")
    assert ec2["local-ipv4"] == "10.0.0.5"


def test_no_user_data_no_file(tmp_path: Path) -> None:
    iso = tmp_path / "d.iso"
    configdrive.build(configdrive.ConfigDriveData(uuid="u", name="n", hostname="n"), iso)
    files = configdrive.read_iso(iso)
    assert not any(p.endswith(("user_data", "user-data")) for p in files)
    assert "public_keys" not in json.loads(files["openstack/latest/meta_data.json"])
    assert not list(tmp_path.glob("*.tmp"))
