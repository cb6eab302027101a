"""What the admin APIs tell about this storage host: its services and their hosts, its
one back-end pool and that pool's capabilities, the usage a host holds per project,
and the extensions the API offers (Cinder's ``os-services``, ``os-hosts``,
``scheduler-stats/get_pools`` and ``/extensions``).

One process is the whole block store: a ``cinder-scheduler`` on ``<host>`` and a
``cinder-volume`` on ``<host>@<backend>`` serving one pool,
``<host>@<backend>#<backend>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore.errors import NotFound

GIB = 1 << 30
SCHEDULER, VOLUME = "cinder-scheduler", "cinder-volume"


def volume_host(host: str, backend: str) -> str:
    """The volume service's host name, ``<host>@<backend>``."""
    return f"{host}@{backend}"


def pool_name(host: str, backend: str) -> str:
    """The one pool's name, ``<host>@<backend>#<backend>`` (what volumes show as their
    ``os-vol-host-attr:host``)."""
    return f"{volume_host(host, backend)}#{backend}"


@dataclass(frozen=True)
class Service:
    binary: str
    host: str
    topic: str


def services(host: str, backend: str) -> list[Service]:
    return [Service(SCHEDULER, host, "cinder-scheduler"),
            Service(VOLUME, volume_host(host, backend), "cinder-volume")]


def capabilities(stats: dict[str, int], allocated_gib: int, backend: str,
                 now: datetime | None = None) -> dict[str, Any]:
    """The pool's capabilities, as ``get_pools?detail=true`` lists them, from the
    backend's ``stats()`` and the GiB the database says volumes take."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")
    thin = backend == "file"
    return {
        "pool_name": backend, "volume_backend_name": backend, "vendor_name": "Strata",
        "driver_version": "1.0", "storage_protocol": "iSCSI",
        "total_capacity_gb": round(stats["total_bytes"] / GIB, 2),
        "free_capacity_gb": round(stats["free_bytes"] / GIB, 2),
        "allocated_capacity_gb": allocated_gib,
        "provisioned_capacity_gb": round(stats["provisioned_bytes"] / GIB, 2),
        "reserved_percentage": 0, "QoS_support": False, "multiattach": False,
        "thin_provisioning_support": thin, "thick_provisioning_support": not thin,
        "max_over_subscription_ratio": "20.0" if thin else "1.0",
        "backend_state": "up", "timestamp": stamp, "updated": stamp,
    }


def allocated_gib(s: Session) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(m.Volume.size), 0))) or 0)


def host_usage(s: Session, host: str, known: list[Service]) -> list[dict[str, Any]]:
    """``os-hosts/{host}``: the volume service's totals, then each project's (as strings,
    as Cinder answers them); 404 for a host that is not the volume service's."""
    if host not in {svc.host for svc in known if svc.binary == VOLUME}:
        raise NotFound(f"Host {host} could not be found.")

    def counts(model: type[m.Volume] | type[m.Snapshot], project: str | None
               ) -> tuple[int, int]:
        stmt = select(func.count(model.id), func.coalesce(func.sum(model.size), 0))
        if project is not None:
            stmt = stmt.where(model.project_id == project)
        row = s.execute(stmt).one()
        return int(row[0]), int(row[1])

    def entry(project: str | None) -> dict[str, Any]:
        vols, vol_gb = counts(m.Volume, project)
        snaps, snap_gb = counts(m.Snapshot, project)
        return {"resource": {"host": host, "project": project or "(total)",
                             "volume_count": str(vols), "total_volume_gb": str(vol_gb),
                             "snapshot_count": str(snaps), "total_snapshot_gb": str(snap_gb)}}

    projects = sorted(set(s.scalars(select(m.Volume.project_id).distinct())))
    return [entry(None), *(entry(p) for p in projects)]


# The API's extensions (``GET /extensions``): alias, name, description.
EXTENSIONS = (
    ("os-admin-actions", "AdminActions", "Reset the status of, and force-delete, volumes."),
    ("os-availability-zone", "AvailabilityZones", "Lists the availability zones."),
    ("backups", "Backups", "Backups of volumes into the object store, and restores."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
     "Shows the progress and project of snapshots."),
    ("os-hosts", "Hosts", "Lists the storage hosts and what each holds (admins)."),
    ("os-quota-class-sets", "QuotaClasses", "Shows and sets the quotas of quota classes."),
    ("os-quota-sets", "Quotas", "Shows and sets the quotas of projects."),
    ("qos-specs", "Qos_specs_manage", "Quality-of-service specs for volume types."),
    ("scheduler-stats", "Scheduler_stats", "Lists the back-end pools and their capabilities."),
    ("os-services", "Services", "Lists the block store's services."),
    ("os-snapshot-manage", "SnapshotManage", "Brings existing back-end snapshots under "
                                             "management, or lets them go."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Extra specs of volume types."),
    ("os-types-manage", "TypesManage", "Creates, updates and deletes volume types."),
    ("os-used-limits", "UsedLimits", "Shows the quota a project has used in its limits."),
    ("os-volume-actions", "VolumeActions", "Attach, detach, extend and upload volumes."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Shows the host of volumes (admins)."),
    ("os-vol-image-meta", "VolumeImageMetadata", "Shows the image metadata of volumes."),
    ("os-volume-manage", "VolumeManage", "Brings existing back-end volumes under "
                                         "management, or lets them go."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute",
     "Shows the migration status of volumes (admins)."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute", "Shows the project of volumes."),
    ("os-volume-transfer", "VolumeTransfer", "Gives a volume to another project."),
    ("os-volume-type-access", "VolumeTypeAccess", "Private volume types and the projects "
                                                  "that may use them."),
)


def extensions() -> list[dict[str, Any]]:
    return [{"alias": alias, "name": name, "description": text, "links": [],
             "namespace": f"https://docs.openstack.org/volume/ext/{alias}/api/v1",
             "updated": "2024-01-01T00:00:00+00:00"}
            for alias, name, text in EXTENSIONS]
