"""The standard metadata definitions, loaded once: when the metadef tables are made.

``catalog/*.json`` are our own definitions of the namespaces dashboards use to
offer image, volume and flavor properties (hypervisor, CPU topology and
pinning, watchdog, random number generator, libvirt options, shutdown,
instance data, operating system, memory backing, flavor quotas). Each file is
a namespace in the form ``POST /v2/metadefs/namespaces`` takes, so an
operator can also load one with ``glance md-namespace-import``. They are
public, protected and owned by ``admin``, as Glance's loader makes them.

:func:`seed` writes them with plain SQL through table descriptions of its
own, so the migration that calls it keeps working whatever later migrations
do to the ORM models.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CATALOG = Path(__file__).resolve().parent / "catalog"
OWNER = "admin"
# The resource types every cloud has, protected from removal.
RESOURCE_TYPES = ("OS::Cinder::Volume", "OS::Glance::Image", "OS::Nova::Aggregate",
                  "OS::Nova::Flavor", "OS::Nova::Server")

_ns = sa.table("metadef_namespace", sa.column("id", sa.Integer),
               sa.column("namespace", sa.String), sa.column("display_name", sa.String),
               sa.column("description", sa.Text), sa.column("visibility", sa.String),
               sa.column("protected", sa.Boolean), sa.column("owner", sa.String),
               sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_rt = sa.table("metadef_resource_type", sa.column("id", sa.Integer),
               sa.column("name", sa.String), sa.column("protected", sa.Boolean),
               sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_assoc = sa.table("metadef_namespace_resource_type", sa.column("namespace_id", sa.Integer),
                  sa.column("resource_type_id", sa.Integer), sa.column("prefix", sa.String),
                  sa.column("properties_target", sa.String),
                  sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_prop = sa.table("metadef_property", sa.column("namespace_id", sa.Integer),
                 sa.column("name", sa.String), sa.column("schema", sa.Text),
                 sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_obj = sa.table("metadef_object", sa.column("namespace_id", sa.Integer),
                sa.column("name", sa.String), sa.column("description", sa.Text),
                sa.column("required", sa.Text), sa.column("schema", sa.Text),
                sa.column("created_at", sa.DateTime), sa.column("updated_at", sa.DateTime))
_tag = sa.table("metadef_tag", sa.column("namespace_id", sa.Integer),
                sa.column("name", sa.String), sa.column("created_at", sa.DateTime),
                sa.column("updated_at", sa.DateTime))


def namespaces() -> list[dict[str, Any]]:
    """The catalog's namespaces, as ``POST /v2/metadefs/namespaces`` bodies."""
    return [json.loads(path.read_text()) for path in sorted(CATALOG.glob("*.json"))]


def _insert(conn: Connection, table: Any, **values: Any) -> int:
    return int(conn.execute(sa.insert(table).values(**values).returning(table.c.id))
               .scalar_one())


def seed(conn: Connection, now: datetime) -> int:
    """Write the catalog into empty metadef tables; the number of namespaces."""
    stamp = {"created_at": now, "updated_at": now}
    types = {name: _insert(conn, _rt, name=name, protected=True, **stamp)
             for name in RESOURCE_TYPES}
    loaded = namespaces()
    for doc in loaded:
        ns_id = _insert(conn, _ns, namespace=doc["namespace"],
                        display_name=doc.get("display_name"),
                        description=doc.get("description"),
                        visibility=doc.get("visibility", "public"),
                        protected=doc.get("protected", True), owner=OWNER, **stamp)
        for assoc in doc.get("resource_type_associations", []):
            if assoc["name"] not in types:
                types[assoc["name"]] = _insert(conn, _rt, name=assoc["name"],
                                               protected=False, **stamp)
            conn.execute(sa.insert(_assoc).values(
                namespace_id=ns_id, resource_type_id=types[assoc["name"]],
                prefix=assoc.get("prefix"), properties_target=assoc.get("properties_target"),
                **stamp))
        for name, spec in doc.get("properties", {}).items():
            conn.execute(sa.insert(_prop).values(namespace_id=ns_id, name=name,
                                                 schema=json.dumps(spec), **stamp))
        for obj in doc.get("objects", []):
            conn.execute(sa.insert(_obj).values(
                namespace_id=ns_id, name=obj["name"], description=obj.get("description"),
                required=json.dumps(obj["required"]) if "required" in obj else None,
                schema=json.dumps(obj["properties"]) if "properties" in obj else None,
                **stamp))
        for tag in doc.get("tags", []):
            conn.execute(sa.insert(_tag).values(namespace_id=ns_id, name=tag["name"],
                                                **stamp))
    return len(loaded)
