"""Which field each view shows at which microversion: one table per view.

A view builder makes every field a resource can have (some only under conditions:
``fault`` only in ERROR, ``security_groups`` only when there are some); the table
then keeps exactly the fields of the requested microversion's schema, in the
table's order, and those only admins see when the caller is one. A field a builder
makes that its table does not name is a bug, caught by the unit tests, never sent.

Formats that change with the version (the embedded flavor of 2.47, ``swap`` as 0 from
2.75, ``cpu_info`` as an object from 2.28, ...) are the builders' business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

V = tuple[int, int]


@dataclass(frozen=True)
class Field:
    name: str
    since: int = 1  # first 2.x minor that has it
    until: int | None = None  # last 2.x minor that has it
    admin: bool = False  # only admins see it

    def shown(self, minor: int, is_admin: bool) -> bool:
        if minor < self.since or (self.until is not None and minor > self.until):
            return False
        return is_admin or not self.admin


def f(name: str, since: int = 1, until: int | None = None, *, admin: bool = False) -> Field:
    return Field(name, since, until, admin)


class View:
    def __init__(self, *fields: Field | str) -> None:
        self.fields = tuple(x if isinstance(x, Field) else Field(x) for x in fields)
        self.names = frozenset(x.name for x in self.fields)

    def keys(self, minor: int, is_admin: bool = False) -> list[str]:
        """The fields of this view at 2.``minor``."""
        return [x.name for x in self.fields if x.shown(minor, is_admin)]

    def render(self, values: Mapping[str, Any], minor: int,
               is_admin: bool = False) -> dict[str, Any]:
        """``values`` cut to this view at 2.``minor`` (a field absent from ``values`` is
        left out: the builder decided it does not apply)."""
        return {k: values[k] for k in self.keys(minor, is_admin) if k in values}

    def extend(self, *fields: Field | str) -> View:
        return View(*self.fields, *fields)


def without(view: View, names: Iterable[str]) -> View:
    drop = set(names)
    return View(*(x for x in view.fields if x.name not in drop))


# -- servers ----------------------------------------------------------------------------

SERVER_BRIEF = View("id", "name", "links")

# what every server body has (also the update and, before 2.75, rebuild answers)
_SERVER_BASE = (
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image",
    "flavor", "created", "updated", "addresses", "accessIPv4", "accessIPv6", "links",
    "OS-DCF:diskConfig", "progress", "fault", f("locked", 9), f("description", 19),
    f("tags", 26), f("trusted_image_certificates", 63), f("locked_reason", 73),
)
SERVER_UPDATE = View(*_SERVER_BASE)  # PUT /servers/{id} before 2.75
SERVER_REBUILD = View(*_SERVER_BASE, "adminPass")  # rebuild before 2.75
SERVER = View(
    *_SERVER_BASE,
    "OS-EXT-AZ:availability_zone", "config_drive", "key_name",
    "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
    f("OS-EXT-SRV-ATTR:host", admin=True), f("OS-EXT-SRV-ATTR:instance_name", admin=True),
    f("OS-EXT-SRV-ATTR:hypervisor_hostname", admin=True),
    f("OS-EXT-SRV-ATTR:reservation_id", 3, admin=True),
    f("OS-EXT-SRV-ATTR:launch_index", 3, admin=True),
    f("OS-EXT-SRV-ATTR:hostname", 3, admin=True),
    f("OS-EXT-SRV-ATTR:kernel_id", 3, admin=True),
    f("OS-EXT-SRV-ATTR:ramdisk_id", 3, admin=True),
    f("OS-EXT-SRV-ATTR:root_device_name", 3, admin=True),
    f("OS-EXT-SRV-ATTR:user_data", 3, admin=True),
    "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state",
    "os-extended-volumes:volumes_attached", "security_groups",
    f("host_status", 16, admin=True), f("server_groups", 71),
)
SERVER_REBUILD_FULL = SERVER.extend("adminPass")  # rebuild from 2.75
SERVER_CREATED = View("id", "links", "OS-DCF:diskConfig", "security_groups", "adminPass")

# -- flavors ---------------------------------------------------------------------------

FLAVOR_BRIEF = View("id", "name", "links", f("description", 55))
FLAVOR = View("id", "name", "ram", "disk", "vcpus", "links", "OS-FLV-EXT-DATA:ephemeral",
              "OS-FLV-DISABLED:disabled", "swap", "rxtx_factor",
              "os-flavor-access:is_public", f("description", 55), f("extra_specs", 61))

# -- key pairs -------------------------------------------------------------------------

KEYPAIR_LISTED = View("name", "public_key", "fingerprint", f("type", 2))
KEYPAIR = View("name", "public_key", "fingerprint", "user_id", "deleted", "created_at",
               "updated_at", "deleted_at", "id", f("type", 2))
KEYPAIR_CREATED = View("name", "public_key", "fingerprint", "user_id", "private_key",
                       f("type", 2))

# -- server groups ---------------------------------------------------------------------

SERVER_GROUP = View("id", "name", f("policies", until=63), "members",
                    f("metadata", until=63), f("project_id", 13), f("user_id", 13),
                    f("policy", 64), f("rules", 64))

# -- limits and quotas -----------------------------------------------------------------

LIMITS_ABSOLUTE = View(
    "maxServerMeta", f("maxPersonality", until=56), f("maxPersonalitySize", until=56),
    f("maxImageMeta", until=38), "maxTotalKeypairs",
    f("maxSecurityGroupRules", until=35), f("maxSecurityGroups", until=35),
    "maxServerGroups", "maxServerGroupMembers", "maxTotalCores", "maxTotalInstances",
    "maxTotalRAMSize", f("maxTotalFloatingIps", until=35), "totalCoresUsed",
    "totalInstancesUsed", "totalRAMUsed", f("totalFloatingIpsUsed", until=35),
    f("totalSecurityGroupsUsed", until=35), "totalServerGroupsUsed")

QUOTA_SET = View(
    "id", "instances", "cores", "ram", f("floating_ips", until=35),
    f("fixed_ips", until=35), "metadata_items", f("injected_files", until=56),
    f("injected_file_content_bytes", until=56), f("injected_file_path_bytes", until=56),
    "key_pairs", f("security_groups", until=35), f("security_group_rules", until=35),
    "server_groups", "server_group_members", f("networks", until=35))

# -- hypervisors, services, zones, usage, actions, attachments -------------------------

HYPERVISOR_BRIEF = View("id", "hypervisor_hostname", "state", "status", f("servers", 53))
HYPERVISOR = View(
    "id", "hypervisor_hostname", "state", "status", "cpu_info", "current_workload",
    "disk_available_least", "free_disk_gb", "free_ram_mb", "host_ip", "hypervisor_type",
    "hypervisor_version", "local_gb", "local_gb_used", "memory_mb", "memory_mb_used",
    "running_vms", "service", "vcpus", "vcpus_used", f("servers", 53))
HYPERVISOR_STATISTICS = View(
    "count", "vcpus_used", "local_gb_used", "memory_mb", "current_workload", "vcpus",
    "running_vms", "free_disk_gb", "disk_available_least", "local_gb", "free_ram_mb",
    "memory_mb_used")
SERVICE = View("id", "binary", "disabled_reason", "host", "state", "status", "updated_at",
               "zone", f("forced_down", 11))
INSTANCE_ACTION = View("action", "instance_uuid", "message", "project_id", "request_id",
                       "start_time", "user_id", f("updated_at", 58))
INSTANCE_ACTION_EVENT = View("event", "start_time", "finish_time", "result",
                             f("traceback", admin=True), f("host", 62), f("hostId", 62))
INTERFACE_ATTACHMENT = View("port_state", "fixed_ips", "port_id", "net_id", "mac_addr",
                            f("tag", 70))
VOLUME_ATTACHMENT = View("id", "serverId", "volumeId", "device", f("tag", 70),
                         f("delete_on_termination", 79))
