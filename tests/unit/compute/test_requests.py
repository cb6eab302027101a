"""Server request bodies per microversion: what Nova's schemas accept and refuse."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from compute.core import keypairs, requests
from compute.core.requests import parse_create, parse_rebuild, parse_update
from compute.errors import Invalid, PolicyNotAuthorized

IMAGE = "b3efc844-725b-4042-9366-d82638f4f02d"
NET = "a26a3d8b-34aa-4c2e-9d2e-0f6a7c6b2d11"
PORT = "6edeb37c-8293-46c7-b21e-10b6a180e08a"


def body(**server: Any) -> dict[str, Any]:
    return {"server": {"name": "vm", "imageRef": IMAGE, "flavorRef": "42", **server}}


def parse(minor: int, *, admin: bool = False, **server: Any) -> requests.CreateRequest:
    """A create body parsed at 2.``minor`` (``networks`` none from 2.37 unless given)."""
    if minor >= 37:
        server.setdefault("networks", "none")
    if server.get("networks", "") is None:
        del server["networks"]
    return parse_create(body(**server), minor, is_admin=admin)


def test_a_minimal_request_at_21() -> None:
    req = parse(1, networks=None)
    assert req.name == "vm" and req.image_ref == IMAGE and req.flavor_ref == "42"
    assert req.networks is None and req.security_groups == ("default",)
    assert (req.min_count, req.max_count) == (1, 1)


def test_networks_are_required_from_237_with_auto_none_or_a_list() -> None:
    with pytest.raises(Invalid, match="'networks' is a required property"):
        parse(37, networks=None)
    assert parse(37, networks="auto").networks == "auto"
    assert parse(37, networks="none").networks == "none"
    with pytest.raises(Invalid, match="is not of type 'array'"):
        parse(36, networks="auto")
    with pytest.raises(Invalid, match="not one of"):
        parse(37, networks="some")
    nets = parse(37, networks=[{"uuid": NET, "fixed_ip": "10.0.0.9"}, {"port": PORT}]).networks
    assert isinstance(nets, list) and nets[0].network_id == NET and nets[1].port_id == PORT
    with pytest.raises(Invalid, match="network uuid is not in proper format"):
        parse(37, networks=[{"uuid": "private"}])
    with pytest.raises(Invalid, match="Invalid fixed IP address"):
        parse(37, networks=[{"uuid": NET, "fixed_ip": "nope"}])
    with pytest.raises(Invalid, match="'tag' was unexpected"):
        parse(31, networks=[{"uuid": NET, "tag": "t"}])


def test_user_data_must_be_base64_and_at_most_65535_characters() -> None:
    ok = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    assert parse(1, user_data=ok).user_data == ok
    with pytest.raises(Invalid, match="User data needs to be valid base 64"):
        parse(1, user_data="not base64!")
    with pytest.raises(Invalid, match="longer than 65535"):
        parse(1, user_data="A" * 65536)


def test_personality_until_256_and_other_fields_by_version() -> None:
    files = [{"path": "/etc/motd", "contents": base64.b64encode(b"hi").decode()}]
    assert parse(56, personality=files).personality
    with pytest.raises(Invalid, match="'personality' was unexpected"):
        parse(57, personality=files)
    with pytest.raises(Invalid, match="'description' was unexpected"):
        parse(18, description="d")
    assert parse(19, description="d").description == "d"
    with pytest.raises(Invalid, match="'tags' was unexpected"):
        parse(51, tags=["a"])
    assert parse(52, tags=["a", "b"]).tags == ("a", "b")
    with pytest.raises(Invalid, match="'color' was unexpected"):
        parse(79, color="red")


def test_names_counts_metadata_and_zones() -> None:
    for name in ("", " vm", "x" * 256):
        with pytest.raises(Invalid, match="field/attribute name"):
            parse(1, name=name)
    with pytest.raises(Invalid, match="min_count must be <= max_count"):
        parse(1, min_count=3, max_count=2)
    with pytest.raises(Invalid, match="field/attribute metadata"):
        parse(1, metadata={"k": 1})
    req = parse(1, availability_zone="nova")
    assert req.availability_zone == "nova" and req.host is None
    with pytest.raises(PolicyNotAuthorized):
        parse(1, availability_zone="nova:host1")
    admin = parse(1, availability_zone="nova:host1", admin=True)
    assert (admin.availability_zone, admin.host) == ("nova", "host1")
    assert parse(37, config_drive=True).config_drive
    assert not parse(1, config_drive="").config_drive


def test_block_device_mappings_make_one_boot_disk() -> None:
    req = parse(79, imageRef="", block_device_mapping_v2=[{
        "uuid": IMAGE, "boot_index": 0, "source_type": "image",
        "destination_type": "volume", "volume_size": 1, "delete_on_termination": True}])
    assert req.image_ref == "" and req.block_devices[0].destination_type == "volume"
    # what openstack server create --image sends: the image's own root mapping
    plain = parse(79, block_device_mapping_v2=[{"uuid": IMAGE, "boot_index": 0,
                                                "source_type": "image",
                                                "destination_type": "local"}])
    assert plain.block_devices[0].boot_index == 0
    for wrong, message in (
            ([{"source_type": "volume", "destination_type": "volume", "uuid": IMAGE,
               "boot_index": 1}], "Boot sequence"),
            ([{"source_type": "blank", "destination_type": "volume", "boot_index": 0}],
             "blank volume needs a volume_size"),
            ([{"source_type": "image", "destination_type": "volume", "uuid": IMAGE,
               "boot_index": 0, "volume_size": 0}], "non-zero size"),
            ([{"source_type": "snapshot", "destination_type": "local", "uuid": IMAGE,
               "boot_index": 0}], "can only be a volume"),
            ([{"source_type": "disk", "uuid": IMAGE, "boot_index": 0}], "is not one of")):
        with pytest.raises(Invalid, match=message):
            parse(79, imageRef="", block_device_mapping_v2=wrong)
    with pytest.raises(Invalid, match="Missing imageRef"):
        parse(79, imageRef="")


def test_update_and_rebuild_bodies() -> None:
    assert parse_update({"server": {"name": "new"}}, 1) == {"display_name": "new"}
    with pytest.raises(Invalid, match="'description' was unexpected"):
        parse_update({"server": {"description": "d"}}, 18)
    rebuild = parse_rebuild({"imageRef": IMAGE, "name": "again"}, 79)
    assert rebuild.image_ref == IMAGE and rebuild.name == "again"
    with pytest.raises(Invalid, match="'key_name' was unexpected"):
        parse_rebuild({"imageRef": IMAGE, "key_name": "k"}, 53)
    assert parse_rebuild({"imageRef": IMAGE, "key_name": "k"}, 54).key_name == "k"
    with pytest.raises(Invalid, match="'imageRef' is a required property"):
        parse_rebuild({}, 79)


def test_tags_and_keypair_names() -> None:
    with pytest.raises(Invalid):
        requests.check_tags(["a/b"])
    with pytest.raises(Invalid, match="At most 50"):
        requests.check_tags([f"t{i}" for i in range(51)])
    assert keypairs.check_name("my key_1-x") == "my key_1-x"
    with pytest.raises(Invalid):
        keypairs.check_name("me@host")
    assert keypairs.check_name("me@host.x", relaxed=True)


def test_keypair_fingerprints() -> None:
    made = keypairs.generate("k", "u")
    assert made.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    fp = keypairs.fingerprint(made.public_key)
    assert len(fp.split(":")) == 16
    ed = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDR6wbJ2Vjs1ZmtsvfXzYrTmOGmkUZcZuv0JAbc7Khx8 x")
    assert keypairs.fingerprint(ed) == keypairs.fingerprint(ed.rsplit(" ", 1)[0])
    with pytest.raises(Invalid, match="Keypair data is invalid"):
        keypairs.fingerprint("ssh-rsa AAAAnotakey")
