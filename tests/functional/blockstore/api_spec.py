"""The Block Storage API's response fields per microversion, written from the API
reference and its REST API version history: the tests' own oracle (independent of
``blockstore.api.shapes``), and strict JSON schemas built from it (exactly these
fields: every one required, no other allowed).

Each resource lists, per call, its 3.0 fields (all callers, and admins only) and
the fields later microversions add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LATEST = (3, 70)


@dataclass(frozen=True)
class Added:
    since: tuple[int, int]
    names: frozenset[str]
    calls: frozenset[str]
    admin: bool = False


@dataclass
class Spec:
    base: dict[str, set[str]]  # call -> fields of 3.0
    admin_base: dict[str, set[str]] = field(default_factory=dict)
    added: list[Added] = field(default_factory=list)
    optional: dict[str, set[str]] = field(default_factory=dict)  # present only when set

    def fields(self, call: str, version: tuple[int, int], admin: bool) -> set[str]:
        out = set(self.base[call])
        if admin:
            out |= self.admin_base.get(call, set())
        for a in self.added:
            if call in a.calls and version >= a.since and (admin or not a.admin):
                out |= a.names
        return out

    def versions(self) -> list[tuple[int, int]]:
        """3.0, the latest, each version that adds a field and the one before it."""
        out = {(3, 0), LATEST}
        for a in self.added:
            out |= {a.since, (a.since[0], a.since[1] - 1)}
        return sorted(out)


def _s(names: str) -> set[str]:
    return set(names.split())


def _add(since: str, names: str, calls: str, admin: bool = False) -> Added:
    major, minor = since.split(".")
    return Added((int(major), int(minor)), frozenset(names.split()), frozenset(calls.split()),
                 admin)


_VOLUME = _s("id name links status size availability_zone created_at updated_at "
             "description volume_type snapshot_id source_volid metadata user_id bootable "
             "encrypted replication_status consistencygroup_id multiattach attachments")
_VOL_DETAIL = "create update show detail"

VOLUME = Spec(
    base={"list": _s("id name links"), "create": _VOLUME, "update": _VOLUME,
          "show": _VOLUME | {"os-vol-tenant-attr:tenant_id"},
          "detail": _VOLUME | {"os-vol-tenant-attr:tenant_id"}},
    admin_base={c: {"migration_status"} for c in ("create", "update")} | {
        c: _s("migration_status os-vol-host-attr:host os-vol-mig-status-attr:migstat "
              "os-vol-mig-status-attr:name_id") for c in ("show", "detail")},
    added=[_add("3.13", "group_id", _VOL_DETAIL),
           _add("3.21", "provider_id", _VOL_DETAIL, admin=True),
           _add("3.48", "shared_targets service_uuid", _VOL_DETAIL),
           _add("3.61", "cluster_name", _VOL_DETAIL, admin=True),
           _add("3.63", "volume_type_id", _VOL_DETAIL),
           _add("3.65", "consumes_quota", _VOL_DETAIL)],
    optional={"show": {"volume_image_metadata"}, "detail": {"volume_image_metadata"}},
)

_SNAP = _s("id created_at updated_at name description volume_id status size metadata")
_SNAP_EXT = _s("os-extended-snapshot-attributes:progress "
               "os-extended-snapshot-attributes:project_id")
_SNAP_DETAIL = "create update show detail"

SNAPSHOT = Spec(
    base={"list": _SNAP, "create": _SNAP, "update": _SNAP, "show": _SNAP | _SNAP_EXT,
          "detail": _SNAP | _SNAP_EXT},
    added=[_add("3.14", "group_snapshot_id", _SNAP_DETAIL),
           _add("3.41", "user_id", _SNAP_DETAIL),
           _add("3.65", "consumes_quota", _SNAP_DETAIL)],
)

_ATT = _s("id status instance volume_id")
ATTACHMENT = Spec(base={
    "list": _ATT, "delete": _ATT,
    **{c: _ATT | _s("attached_at detached_at attach_mode connection_info")
       for c in ("create", "update", "show", "detail")}})

_BACKUP = _s("id name links status size object_count availability_zone container "
             "created_at updated_at data_timestamp description fail_reason volume_id "
             "snapshot_id is_incremental has_dependent_backups")
BACKUP = Spec(
    base={"create": _s("id name links"), "update": _s("id name links"),
          "list": _s("id name links"), "show": _BACKUP, "detail": _BACKUP},
    added=[_add("3.18", "os-backup-project-attr:project_id", "show detail", admin=True),
           _add("3.43", "metadata", "show detail"),
           _add("3.56", "user_id", "show detail")],
)

_TYPE = _s("id name description is_public extra_specs")
VOLUME_TYPE = Spec(
    base={"create": _TYPE | {"os-volume-type-access:is_public"}, "update": _TYPE,
          "show": _TYPE | {"os-volume-type-access:is_public"},
          "list": _TYPE | {"os-volume-type-access:is_public"}},
    admin_base={"show": {"qos_specs_id"}, "list": {"qos_specs_id"}},
)

_TR = _s("id created_at name volume_id links")
TRANSFER = Spec(
    base={"create": _TR | {"auth_key"}, "show": _TR, "detail": _TR,
          "list": _s("id volume_id name links"), "accept": _s("id volume_id name links")},
    added=[_add("3.55", "no_snapshots", "create show detail"),
           _add("3.57", "source_project_id destination_project_id accepted",
                "create show detail")],
)

_SVC = _s("binary host zone status state updated_at disabled_reason")
SERVICE_SCHEDULER = Spec(base={"list": _SVC}, added=[_add("3.7", "cluster", "list")])
SERVICE_VOLUME = Spec(base={"list": _SVC | _s("replication_status active_backend_id frozen")},
                      added=[_add("3.7", "cluster", "list"),
                             _add("3.49", "backend_state", "list")])

QOS_SPECS = Spec(base={c: _s("id name consumer specs") for c in ("create", "show", "list")})

_GT = _s("id name description is_public")
GROUP_TYPE = Spec(base={c: set(_GT) for c in ("create", "update", "show", "list")},
                  admin_base={c: {"group_specs"} for c in ("create", "update", "show", "list")})

_GROUP = _s("id status availability_zone created_at name description group_type "
            "volume_types")
GROUP = Spec(
    base={"create": _s("id name"), "list": _s("id name"), "show": _GROUP, "detail": _GROUP},
    added=[_add("3.14", "group_snapshot_id source_group_id", "show detail"),
           _add("3.38", "replication_status", "show detail"),
           _add("3.58", "project_id", "show detail")],
    optional={"show": {"volumes"}, "detail": {"volumes"}},
)

_GS = _s("id group_id group_type_id status created_at name description")
GROUP_SNAPSHOT = Spec(
    base={"create": _s("id name group_type_id"), "list": _s("id name group_type_id"),
          "show": _GS, "detail": _GS},
    added=[_add("3.58", "project_id", "show detail")],
)

MESSAGE = Spec(base={c: _s("id event_id user_message message_level created_at "
                           "guaranteed_until request_id links resource_type resource_uuid")
                     for c in ("show", "list")})

POOL = Spec(base={"list": {"name"}, "detail": {"name", "capabilities"}})
HOST = Spec(base={"list": _s("service-status service zone service-state host_name "
                             "last-update")})
MANAGEABLE_VOLUME = Spec(base={"list": _s("reference size safe_to_manage"),
                               "detail": _s("reference size safe_to_manage reason_not_safe "
                                            "cinder_id extra_info")})


def schema(spec: Spec, call: str, version: tuple[int, int], admin: bool) -> dict[str, Any]:
    """A JSON schema allowing exactly the fields of ``call`` at ``version`` (optional
    ones may be missing)."""
    names = spec.fields(call, version, admin)
    optional = spec.optional.get(call, set())
    return {"type": "object", "required": sorted(names),
            "properties": {n: {} for n in sorted(names | optional)},
            "additionalProperties": False}


def mismatch(spec: Spec, call: str, version: tuple[int, int], admin: bool,
             body: dict[str, Any]) -> str | None:
    """None when ``body`` has exactly the fields the spec says, else what differs."""
    want = spec.fields(call, version, admin)
    got = set(body) - (spec.optional.get(call, set()) - want)
    if got == want:
        return None
    return (f"{call} at 3.{version[1]} ({'admin' if admin else 'member'}): "
            f"extra {sorted(got - want)}, missing {sorted(want - got)}")
