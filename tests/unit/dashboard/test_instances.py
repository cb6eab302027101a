"""The Instances pages' own logic: the Launch Instance form as the compute API's
``server``, what a list row shows of a server, when a list refreshes itself."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from multidict import MultiDict, MultiDictProxy

from common.errors import BadRequest
from dashboard.views.instances import (
    Kept,
    addresses,
    age,
    framing,
    launch_body,
    row,
    settling,
)
from dashboard.web import CSP


def body(**fields: Any) -> dict[str, Any]:
    data: MultiDict[Any] = MultiDict()
    for key, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            data.add(key, v)
    return launch_body(MultiDictProxy(data))


def test_an_image_launch_with_everything_the_form_offers() -> None:
    server = body(name="web", flavor="42", count="2", source="image", image_id="img",
                  network=["n1", "n2"], security_group=["default", "web"], key_name="k",
                  user_data="#!/bin/sh\r\necho hi\r\n", config_drive="on",
                  description="a web server")
    assert server == {
        "name": "web", "flavorRef": "42", "min_count": 2, "max_count": 2,
        "imageRef": "img", "networks": [{"uuid": "n1"}, {"uuid": "n2"}],
        "security_groups": [{"name": "default"}, {"name": "web"}], "key_name": "k",
        "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        "config_drive": True, "description": "a web server"}


def test_the_least_launch_leaves_the_rest_to_the_api() -> None:
    assert body(name="a", flavor="1", image_id="img", user_data="  ") == {
        "name": "a", "flavorRef": "1", "imageRef": "img"}


@pytest.mark.parametrize(("fields", "bdm"), [
    ({"source": "image", "image_id": "img", "new_volume": "on", "volume_size": "3",
      "delete_on_termination": "on"},
     {"boot_index": 0, "uuid": "img", "source_type": "image", "destination_type": "volume",
      "delete_on_termination": True, "volume_size": 3}),
    ({"source": "volume", "volume_id": "vol"},
     {"boot_index": 0, "uuid": "vol", "source_type": "volume", "destination_type": "volume",
      "delete_on_termination": False}),
    ({"source": "snapshot", "snapshot_id": "snap", "delete_on_termination": "on"},
     {"boot_index": 0, "uuid": "snap", "source_type": "snapshot",
      "destination_type": "volume", "delete_on_termination": True}),
])
def test_booting_from_a_volume(fields: dict[str, str], bdm: dict[str, Any]) -> None:
    server = body(name="v", flavor="1", **fields)
    assert "imageRef" not in server
    assert server["block_device_mapping_v2"] == [bdm]


@pytest.mark.parametrize(("fields", "message"), [
    ({"flavor": "1", "image_id": "i"}, "Instance name is required."),
    ({"name": "a", "image_id": "i"}, "Flavor is required."),
    ({"name": "a", "flavor": "1"}, "The source image is required."),
    ({"name": "a", "flavor": "1", "source": "volume"}, "The source volume is required."),
    ({"name": "a", "flavor": "1", "image_id": "i", "count": "0"},
     "Count must be at least 1."),
    ({"name": "a", "flavor": "1", "image_id": "i", "new_volume": "on", "volume_size": "x"},
     "Volume size (GiB) must be a whole number."),
    ({"name": "a", "flavor": "1", "source": "floppy"}, "Unknown boot source 'floppy'."),
])
def test_a_bad_launch_form_says_what_is_wrong(fields: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest) as err:
        body(**fields)
    assert err.value.message == message


def test_age_as_the_list_shows_it() -> None:
    now = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
    assert age("2026-01-02T11:59:30Z", now) == "just now"
    assert age("2026-01-02T11:59:00Z", now) == "1 minute"
    assert age("2026-01-02T09:00:00+00:00", now) == "3 hours"
    assert age("2025-12-31T12:00:00", now) == "2 days"
    assert age("not a time", now) == ""


SERVER: dict[str, Any] = {
    "id": "s1", "name": "<b>web</b>", "status": "ACTIVE", "image": {"id": "img"},
    "flavor": {"original_name": "m1.nano", "vcpus": 1}, "key_name": "k",
    "OS-EXT-STS:task_state": None, "OS-EXT-STS:power_state": 1,
    "created": "2026-01-02T11:00:00Z", "tenant_id": "p1",
    "addresses": {"private": [
        {"addr": "10.0.0.3", "OS-EXT-IPS:type": "fixed"},
        {"addr": "172.24.4.9", "OS-EXT-IPS:type": "floating"}]},
    "os-extended-volumes:volumes_attached": [{"id": "v1"}],
}


def test_a_row_shows_names_not_ids() -> None:
    shown = row(SERVER, {"img": "tiny"})
    assert (shown["name"], shown["image"], shown["flavor"], shown["power"]) == \
        ("<b>web</b>", "tiny", "m1.nano", "Running")
    assert shown["addresses"] == [("private", "10.0.0.3", "fixed"),
                                  ("private", "172.24.4.9", "floating")]
    assert shown["volumes"] == ["v1"] and shown["project_id"] == "p1"
    assert row({**SERVER, "image": ""}, {})["image"] == "(booted from volume)"
    assert addresses({"addresses": {}}) == []


def test_a_list_refreshes_while_an_instance_builds_or_has_a_task() -> None:
    assert not settling(SERVER)
    assert settling({**SERVER, "status": "BUILD"})
    assert settling({**SERVER, "OS-EXT-STS:task_state": "powering-off"})
    assert settling({**SERVER, "status": "HARD_REBOOT"})
    # a resized instance waits for the user's confirm or revert
    assert not settling({**SERVER, "status": "VERIFY_RESIZE"})
    assert settling({**SERVER, "status": "VERIFY_RESIZE",
                     "OS-EXT-STS:task_state": "resize_reverting"})


def test_only_the_console_proxy_may_be_framed() -> None:
    policy = framing("http://127.0.0.1:6080/vnc_lite.html?path=%3Ftoken%3Dabc")
    assert policy.startswith(CSP)
    assert policy.endswith("; frame-src http://127.0.0.1:6080")


def test_a_refused_launch_form_comes_back_as_it_was_sent() -> None:
    first = Kept()
    assert first.value("count", "1") == "1" and first.chosen("network", "n1", True)
    kept = Kept({"name": ["web"], "network": ["n2"], "config_drive": ["on"]})
    assert kept.value("name") == "web" and kept.value("count", "1") == ""
    assert kept.chosen("config_drive", "on") and not kept.chosen("new_volume", "on")
    # a network left unticked stays unticked, whatever the default
    assert kept.chosen("network", "n2") and not kept.chosen("network", "n1", True)
