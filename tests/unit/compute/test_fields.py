"""The view tables: exactly the fields of each microversion's schema, at its boundaries.

The expected lists are written out from the compute API reference, one per schema
version, and compared with what each table keeps, so a field shown a version early
or late (or to the wrong caller) fails here.
"""

from __future__ import annotations

import pytest

from compute.api import fields

BASE_21 = ["id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
           "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6", "links",
           "OS-DCF:diskConfig", "progress", "fault"]
EXT_21 = ["OS-EXT-AZ:availability_zone", "config_drive", "key_name",
          "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at", "OS-EXT-STS:task_state",
          "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
          "os-extended-volumes:volumes_attached", "security_groups"]
ADMIN_21 = ["OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name",
            "OS-EXT-SRV-ATTR:hypervisor_hostname"]
ADMIN_23 = ["OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:launch_index",
            "OS-EXT-SRV-ATTR:hostname", "OS-EXT-SRV-ATTR:kernel_id",
            "OS-EXT-SRV-ATTR:ramdisk_id", "OS-EXT-SRV-ATTR:root_device_name",
            "OS-EXT-SRV-ATTR:user_data"]


def server_keys(minor: int, admin: bool) -> set[str]:
    keys = set(BASE_21 + EXT_21)
    if admin:
        keys |= set(ADMIN_21)
        if minor >= 3:
            keys |= set(ADMIN_23)
        if minor >= 16:
            keys.add("host_status")
    for since, name in ((9, "locked"), (19, "description"), (26, "tags"),
                        (63, "trusted_image_certificates"), (71, "server_groups"),
                        (73, "locked_reason")):
        if minor >= since:
            keys.add(name)
    return keys


@pytest.mark.parametrize("minor", [1, 2, 3, 8, 9, 15, 16, 18, 19, 25, 26, 46, 47, 62, 63,
                                   70, 71, 72, 73, 75, 79])
@pytest.mark.parametrize("admin", [False, True])
def test_server_fields_at_each_boundary(minor: int, admin: bool) -> None:
    assert set(fields.SERVER.keys(minor, admin)) == server_keys(minor, admin)


def test_update_answer_before_275_lacks_the_extended_attributes() -> None:
    keys = set(fields.SERVER_UPDATE.keys(74, True))
    assert keys == set(BASE_21) | {"locked", "description", "tags",
                                   "trusted_image_certificates", "locked_reason"}
    assert "adminPass" in fields.SERVER_REBUILD.keys(1)
    assert set(fields.SERVER_REBUILD_FULL.keys(75)) == server_keys(75, False) | {"adminPass"}


def test_render_keeps_only_the_table_and_what_applies() -> None:
    values = {k: 1 for k in server_keys(79, True)} | {"junk": 1}
    del values["fault"]
    shown = fields.SERVER.render(values, 2, False)
    assert "junk" not in shown and "fault" not in shown and "locked" not in shown
    assert "OS-EXT-SRV-ATTR:host" not in shown and shown["id"] == 1


@pytest.mark.parametrize(("minor", "brief", "detail"), [
    (1, ["id", "name", "links"],
     ["id", "name", "ram", "disk", "vcpus", "links", "OS-FLV-EXT-DATA:ephemeral",
      "OS-FLV-DISABLED:disabled", "swap", "rxtx_factor", "os-flavor-access:is_public"]),
    (55, ["id", "name", "links", "description"],
     ["id", "name", "ram", "disk", "vcpus", "links", "OS-FLV-EXT-DATA:ephemeral",
      "OS-FLV-DISABLED:disabled", "swap", "rxtx_factor", "os-flavor-access:is_public",
      "description"]),
    (61, ["id", "name", "links", "description"],
     ["id", "name", "ram", "disk", "vcpus", "links", "OS-FLV-EXT-DATA:ephemeral",
      "OS-FLV-DISABLED:disabled", "swap", "rxtx_factor", "os-flavor-access:is_public",
      "description", "extra_specs"]),
])
def test_flavor_fields(minor: int, brief: list[str], detail: list[str]) -> None:
    assert fields.FLAVOR_BRIEF.keys(minor) == brief
    assert fields.FLAVOR.keys(minor) == detail
    if minor > 1:  # the version before the boundary has one field less
        assert fields.FLAVOR.keys(minor - 1) == detail[:-1]


def test_keypair_fields() -> None:
    assert fields.KEYPAIR_LISTED.keys(1) == ["name", "public_key", "fingerprint"]
    assert fields.KEYPAIR_LISTED.keys(2) == ["name", "public_key", "fingerprint", "type"]
    assert set(fields.KEYPAIR.keys(1)) == {"name", "public_key", "fingerprint", "user_id",
                                          "deleted", "created_at", "updated_at",
                                          "deleted_at", "id"}
    assert "type" in fields.KEYPAIR.keys(2) and "type" in fields.KEYPAIR_CREATED.keys(79)


def test_server_group_fields() -> None:
    assert fields.SERVER_GROUP.keys(1) == ["id", "name", "policies", "members", "metadata"]
    assert fields.SERVER_GROUP.keys(13) == ["id", "name", "policies", "members", "metadata",
                                            "project_id", "user_id"]
    assert fields.SERVER_GROUP.keys(64) == ["id", "name", "members", "project_id",
                                            "user_id", "policy", "rules"]


def test_limits_and_quota_fields_shrink_as_nova_dropped_them() -> None:
    assert {"maxSecurityGroups", "maxTotalFloatingIps", "maxImageMeta",
            "maxPersonality"} <= set(fields.LIMITS_ABSOLUTE.keys(35))
    assert "maxSecurityGroups" not in fields.LIMITS_ABSOLUTE.keys(36)
    assert "maxImageMeta" in fields.LIMITS_ABSOLUTE.keys(38)
    assert "maxImageMeta" not in fields.LIMITS_ABSOLUTE.keys(39)
    assert "maxPersonality" in fields.LIMITS_ABSOLUTE.keys(56)
    assert set(fields.LIMITS_ABSOLUTE.keys(57)) == {
        "maxServerMeta", "maxTotalKeypairs", "maxServerGroups", "maxServerGroupMembers",
        "maxTotalCores", "maxTotalInstances", "maxTotalRAMSize", "totalCoresUsed",
        "totalInstancesUsed", "totalRAMUsed", "totalServerGroupsUsed"}
    assert set(fields.QUOTA_SET.keys(57)) == {
        "id", "instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
        "server_group_members"}
    assert {"floating_ips", "fixed_ips", "security_groups", "security_group_rules",
            "networks", "injected_files"} <= set(fields.QUOTA_SET.keys(35))


def test_hypervisor_service_action_and_attachment_fields() -> None:
    assert fields.HYPERVISOR_BRIEF.keys(52) == ["id", "hypervisor_hostname", "state",
                                                "status"]
    assert fields.HYPERVISOR_BRIEF.keys(53)[-1] == "servers"
    assert "forced_down" not in fields.SERVICE.keys(10)
    assert "forced_down" in fields.SERVICE.keys(11)
    assert "updated_at" not in fields.INSTANCE_ACTION.keys(57)
    assert "updated_at" in fields.INSTANCE_ACTION.keys(58)
    assert "traceback" not in fields.INSTANCE_ACTION_EVENT.keys(51, False)
    assert "traceback" in fields.INSTANCE_ACTION_EVENT.keys(51, True)
    assert "hostId" in fields.INSTANCE_ACTION_EVENT.keys(62, False)
    assert fields.VOLUME_ATTACHMENT.keys(69) == ["id", "serverId", "volumeId", "device"]
    assert fields.VOLUME_ATTACHMENT.keys(70) == ["id", "serverId", "volumeId", "device",
                                                 "tag"]
    assert fields.VOLUME_ATTACHMENT.keys(79)[-1] == "delete_on_termination"
