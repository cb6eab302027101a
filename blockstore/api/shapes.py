"""Which field of each view appears from which microversion, for which call, for whom.

Cinder's responses follow the microversion a request asks for exactly: a
request without ``OpenStack-API-Version`` is 3.0 and gets only the fields
3.0 has, and strict clients reject a field their version does not know. So
every view here is a :class:`Shape`, one table a resource: each
:class:`Field` names the calls that show it (``create``, ``update``,
``show``, ``list`` for the brief listing, ``detail`` for the detailed one,
and a few resource-specific ones), the first microversion that has it, and
whether only admins see it (Cinder's admin-only extensions and policies).
``views`` computes a resource's values; ``Shape.render`` keeps exactly the
fields of the request's call, version and caller.

The tables follow the Block Storage API reference and its REST API version
history; ``docs/compat/block-storage.md`` lists the same per resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from blockstore.api.base import ApiVersion

CREATE, UPDATE, SHOW, LIST, DETAIL = "create", "update", "show", "list", "detail"


@dataclass(frozen=True)
class Field:
    """One field of a view.

    ``calls``: the calls whose answer has it; ``since``: its first microversion;
    ``admin``: shown to admins only; ``when_set``: left out while its value is
    None; ``when``: shown only where the (private, never rendered) value of that
    name is true (e.g. the volume service's own fields in a service listing).
    """

    name: str
    calls: frozenset[str]
    since: ApiVersion
    admin: bool = False
    when_set: bool = False
    when: str | None = None

    def shown(self, call: str, version: ApiVersion, is_admin: bool) -> bool:
        return call in self.calls and version >= self.since and (is_admin or not self.admin)


def fields(names: str, calls: Iterable[str], since: str = "3.0", **kw: Any) -> list[Field]:
    """One :class:`Field` for each whitespace-separated name, alike but for the name."""
    major, minor = since.split(".")
    version = ApiVersion(int(major), int(minor))
    return [Field(name, frozenset(calls), version, **kw) for name in names.split()]


class Shape:
    """The table of one resource's view; see the module docstring."""

    def __init__(self, resource: str, *groups: list[Field]) -> None:
        self.resource = resource
        self.fields = [f for group in groups for f in group]
        names = [f.name for f in self.fields]
        dupes = {n for n in names if names.count(n) > 1}
        assert not dupes, f"{resource}: fields listed twice: {sorted(dupes)}"

    @property
    def calls(self) -> set[str]:
        return {c for f in self.fields for c in f.calls}

    def names(self, call: str, version: ApiVersion, is_admin: bool) -> list[str]:
        """Every field a ``call`` at ``version`` may show (``when``/``when_set`` ones
        included: their presence depends on the values)."""
        assert call in self.calls, f"{self.resource} has no call {call!r}"
        return [f.name for f in self.fields if f.shown(call, version, is_admin)]

    def boundaries(self) -> list[ApiVersion]:
        """The microversions at which some field of this view appears."""
        return sorted({f.since for f in self.fields})

    def render(self, values: Mapping[str, Any], call: str, version: ApiVersion,
               is_admin: bool) -> dict[str, Any]:
        """Exactly the fields of ``call`` at ``version`` for this caller, from ``values``
        (which must hold every field the table names; extra values are ignored)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if not f.shown(call, version, is_admin):
                continue
            if f.when is not None and not values.get(f.when):
                continue
            value = values[f.name]
            if f.when_set and value is None:
                continue
            out[f.name] = value
        return out


# -- volumes ------------------------------------------------------------------------

_VOL_D = (CREATE, UPDATE, SHOW, DETAIL)  # the detailed view (create, update answer it)
_VOL_X = (SHOW, DETAIL)  # what Cinder's extensions add to reads only

VOLUME = Shape(
    "volume",
    fields("id name links", (*_VOL_D, LIST)),
    fields("status size availability_zone created_at updated_at description volume_type "
           "snapshot_id source_volid metadata user_id bootable encrypted replication_status "
           "consistencygroup_id multiattach attachments", _VOL_D),
    fields("migration_status", _VOL_D, admin=True),
    fields("group_id", _VOL_D, "3.13"),
    fields("provider_id", _VOL_D, "3.21", admin=True),
    fields("shared_targets service_uuid", _VOL_D, "3.48"),
    fields("cluster_name", _VOL_D, "3.61", admin=True),
    fields("volume_type_id", _VOL_D, "3.63"),
    fields("consumes_quota", _VOL_D, "3.65"),
    fields("os-vol-tenant-attr:tenant_id", _VOL_X),
    fields("os-vol-host-attr:host os-vol-mig-status-attr:migstat "
           "os-vol-mig-status-attr:name_id", _VOL_X, admin=True),
    fields("volume_image_metadata", _VOL_X, when_set=True),
)

# the answer of os-volume_upload_image
VOLUME_UPLOAD = Shape(
    "volume upload", fields("id updated_at status display_description size volume_type "
                            "image_id image_name disk_format container_format visibility "
                            "protected", (CREATE,)))

VOLUME_SUMMARY = Shape(  # GET /volumes/summary (3.12)
    "volume summary",
    fields("total_count total_size", (SHOW,), "3.12"),
    fields("metadata", (SHOW,), "3.36"))

# -- snapshots -----------------------------------------------------------------------

_SNAP_D = (CREATE, UPDATE, SHOW, DETAIL)

SNAPSHOT = Shape(
    "snapshot",
    fields("id created_at updated_at name description volume_id status size metadata",
           (*_SNAP_D, LIST)),
    fields("os-extended-snapshot-attributes:progress "
           "os-extended-snapshot-attributes:project_id", (SHOW, DETAIL)),
    fields("group_snapshot_id", _SNAP_D, "3.14"),
    fields("user_id", _SNAP_D, "3.41"),
    fields("consumes_quota", _SNAP_D, "3.65"),
)

# -- attachments (the routes are 3.27+) -------------------------------------------------

ATTACHMENT = Shape(
    "attachment",
    fields("id status instance volume_id", (CREATE, UPDATE, SHOW, DETAIL, LIST)),
    fields("attached_at detached_at attach_mode connection_info",
           (CREATE, UPDATE, SHOW, DETAIL)),
)

# -- backups ------------------------------------------------------------------------------

BACKUP = Shape(
    "backup",
    fields("id name links", (CREATE, UPDATE, LIST, SHOW, DETAIL)),
    fields("status size object_count availability_zone container created_at updated_at "
           "data_timestamp description fail_reason volume_id snapshot_id is_incremental "
           "has_dependent_backups", (SHOW, DETAIL)),
    fields("os-backup-project-attr:project_id", (SHOW, DETAIL), "3.18", admin=True),
    fields("metadata", (SHOW, DETAIL), "3.43"),
    fields("user_id", (SHOW, DETAIL), "3.56"),
)

# -- volume types ---------------------------------------------------------------------------

VOLUME_TYPE = Shape(
    "volume type",
    fields("id name description is_public extra_specs", (CREATE, UPDATE, SHOW, LIST)),
    fields("os-volume-type-access:is_public", (CREATE, SHOW, LIST)),
    fields("qos_specs_id", (SHOW, LIST), admin=True),
)

QOS_SPECS = Shape("qos specs", fields("id name consumer specs", (CREATE, SHOW, LIST)))

# -- transfers ------------------------------------------------------------------------------

ACCEPT = "accept"

TRANSFER = Shape(
    "transfer",
    fields("id name volume_id links", (CREATE, SHOW, DETAIL, LIST, ACCEPT)),
    fields("created_at", (CREATE, SHOW, DETAIL)),
    fields("auth_key", (CREATE,)),
    fields("no_snapshots", (CREATE, SHOW, DETAIL), "3.55"),
    fields("source_project_id destination_project_id accepted", (CREATE, SHOW, DETAIL),
           "3.57"),
)

# -- services and hosts (admin APIs) -----------------------------------------------------------

SERVICE = Shape(
    "service",
    fields("binary host zone status state updated_at disabled_reason", (LIST,)),
    fields("replication_status active_backend_id frozen", (LIST,), when="_volume_service"),
    fields("cluster", (LIST,), "3.7"),
    fields("backend_state", (LIST,), "3.49", when="_volume_service"),
)

HOST = Shape("host", fields("host_name service zone service-status service-state last-update",
                            (LIST,)))

POOL = Shape("pool", fields("name", (LIST, DETAIL)), fields("capabilities", (DETAIL,)))

# -- groups (3.11+, 3.13+, 3.14+) --------------------------------------------------------------

FROM_SRC = "create-from-src"

GROUP_TYPE = Shape(
    "group type",
    fields("id name description is_public", (CREATE, UPDATE, SHOW, LIST)),
    fields("group_specs", (CREATE, UPDATE, SHOW, LIST), admin=True),
)

GROUP = Shape(
    "group",
    fields("id name", (CREATE, FROM_SRC, LIST, SHOW, DETAIL)),
    fields("status availability_zone created_at description group_type volume_types",
           (SHOW, DETAIL)),
    fields("group_snapshot_id source_group_id", (SHOW, DETAIL), "3.14"),
    fields("volumes", (SHOW, DETAIL), "3.25", when="_list_volume"),
    fields("replication_status", (SHOW, DETAIL), "3.38"),
    fields("project_id", (SHOW, DETAIL), "3.58"),
)

GROUP_SNAPSHOT = Shape(
    "group snapshot",
    fields("id name group_type_id", (CREATE, LIST, SHOW, DETAIL)),
    fields("group_id status created_at description", (SHOW, DETAIL)),
    fields("project_id", (SHOW, DETAIL), "3.58"),
)

# -- user messages (3.3+) ---------------------------------------------------------------------

MESSAGE = Shape(
    "message",
    fields("id event_id user_message message_level created_at guaranteed_until request_id "
           "links", (SHOW, LIST)),
    fields("resource_type resource_uuid", (SHOW, LIST), when_set=True),
)

# -- manage / unmanage (os-volume-manage, os-snapshot-manage; lists 3.8+) ---------------------

MANAGEABLE_VOLUME = Shape(
    "manageable volume",
    fields("reference size safe_to_manage", (LIST, DETAIL)),
    fields("reason_not_safe cinder_id extra_info", (DETAIL,)),
)

MANAGEABLE_SNAPSHOT = Shape(
    "manageable snapshot",
    fields("reference size safe_to_manage source_reference", (LIST, DETAIL)),
    fields("reason_not_safe cinder_id extra_info", (DETAIL,)),
)

SHAPES = (VOLUME, VOLUME_UPLOAD, VOLUME_SUMMARY, SNAPSHOT, ATTACHMENT, BACKUP, VOLUME_TYPE,
          QOS_SPECS, TRANSFER, SERVICE, HOST, POOL, GROUP_TYPE, GROUP, GROUP_SNAPSHOT,
          MESSAGE, MANAGEABLE_VOLUME, MANAGEABLE_SNAPSHOT)
