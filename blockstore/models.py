"""Block store tables (SQLAlchemy 2 ORM). Changes go through a new Alembic migration.

The database is the source of truth: the volume manager re-creates iSCSI
exports from ``volume`` rows (``exported``, CHAP credentials, initiators)
after a restart of itself or of the target daemon. Deleted rows are removed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class VolumeType(Base):
    __tablename__ = "volume_type"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the QoS specs associated with the type (at most one), by id
    qos_specs_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VolumeTypeAccess(Base):
    """A project that may use a private volume type."""

    __tablename__ = "volume_type_access"
    volume_type_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class QosSpecs(Base):
    """Quality-of-service specs, associated with volume types (their ``qos_specs_id``)."""

    __tablename__ = "qos_specs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(16), default="back-end")
    specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Volume(Base):
    __tablename__ = "volume"
    __table_args__ = (Index("ix_volume_project_created", "project_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    # The status a reserve/begin_detaching left, to go back to on unreserve/roll_detaching.
    previous_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    volume_type_id: Mapped[str | None] = mapped_column(
        ForeignKey("volume_type.id"), nullable=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    image_metadata: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The iSCSI export: kept while the volume has a connection, restored from here.
    exported: Mapped[bool] = mapped_column(Boolean, default=False)
    export_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    chap_user: Mapped[str | None] = mapped_column(String(64), nullable=True)
    chap_password: Mapped[str | None] = mapped_column(String(64), nullable=True)
    initiators: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    group_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    # what the backend called the data of a managed volume (its ``source-name``)
    provider_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Snapshot(Base):
    __tablename__ = "snapshot"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True,
                                                          index=True)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    attached_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mountpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # reserved -> attaching (connector given) -> attached (os-complete / os-attach) -> gone
    attach_status: Mapped[str] = mapped_column(String(32), default="reserved")
    attach_mode: Mapped[str] = mapped_column(String(4), default="rw")
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attach_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    detach_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Transfer(Base):
    __tablename__ = "transfer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    volume_id: Mapped[str] = mapped_column(String(36), unique=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    salt: Mapped[str] = mapped_column(String(64))
    crypt_hash: Mapped[str] = mapped_column(String(128))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class QuotaLimit(Base):
    """A project's own limit for one resource (absent: the configured default)."""

    __tablename__ = "quota_limit"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaClassLimit(Base):
    """A quota class's limit for one resource; the class ``default`` holds the defaults
    every project starts from (absent: the configured default)."""

    __tablename__ = "quota_class_limit"
    class_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(300), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class GroupType(Base):
    """A generic volume group type (3.11+) and its group specs."""

    __tablename__ = "group_type"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    group_specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Group(Base):
    """A generic volume group (3.13+): volumes of the listed types, snapshotted together."""

    __tablename__ = "volume_group"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # creating -> available; updating; deleting -> gone; error, error_deleting
    status: Mapped[str] = mapped_column(String(32), default="creating")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    group_type_id: Mapped[str] = mapped_column(String(36))
    volume_type_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class GroupSnapshot(Base):
    """A snapshot of every volume of a group, taken together (3.14+)."""

    __tablename__ = "group_snapshot"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(36), index=True)
    group_type_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # creating -> available; deleting -> gone; error, error_deleting
    status: Mapped[str] = mapped_column(String(32), default="creating")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Message(Base):
    """A user message (3.3+): what an asynchronous operation that failed tells its
    project, kept until ``expires_at``."""

    __tablename__ = "user_message"
    __table_args__ = (Index("ix_user_message_project_created", "project_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    resource_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    event_id: Mapped[str] = mapped_column(String(64))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    action_id: Mapped[str] = mapped_column(String(8))
    detail_id: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Backup(Base):
    """A backup of a volume in the object store (``blockstore.backups``)."""

    __tablename__ = "backup"
    __table_args__ = (Index("ix_backup_volume_created", "volume_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)  # GiB: the volume's size when backed up
    # creating -> available; restoring -> available; deleting -> gone; error(_deleting)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    fail_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    container: Mapped[str] = mapped_column(String(255))
    is_incremental: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    # the status the volume goes back to when the backup is made (available / in-use)
    volume_back_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    data_timestamp: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
