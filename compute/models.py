"""Compute tables (SQLAlchemy 2 ORM). Changes go through a new Alembic migration.

The database is the source of truth: the agent of each hypervisor host rebuilds
what its guests should be from ``instance`` rows (with their block device
mappings and ports) after a restart, and adopts the domains libvirt still runs.
Deleted servers keep their row (``deleted``), as Nova's do, for usage reports and
``changes-since`` listings.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Flavor(Base):
    __tablename__ = "flavor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)  # MiB
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra_specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class FlavorAccess(Base):
    """A project that may use a private flavor."""

    __tablename__ = "flavor_access"
    flavor_id: Mapped[int] = mapped_column(ForeignKey("flavor.id", ondelete="CASCADE"),
                                           primary_key=True)
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class KeyPair(Base):
    __tablename__ = "key_pair"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(8), default="ssh")  # ssh | x509
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Instance(Base):
    """A server. ``flavor`` is the flavor as it was when the server got it (Nova keeps
    a copy too: a flavor deleted later does not change its servers)."""

    __tablename__ = "instance"
    __table_args__ = (Index("ix_instance_project_created", "project_id", "created_at"),
                      Index("ix_instance_host", "host"))
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255))
    display_description: Mapped[str | None] = mapped_column(Text, nullable=True)
    hostname: Mapped[str] = mapped_column(String(255))
    image_ref: Mapped[str] = mapped_column(String(255), default="")  # "" when from a volume
    flavor: Mapped[dict[str, Any]] = mapped_column(JSON)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requested_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)  # base64, as given
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # owner|admin
    locked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    reservation_id: Mapped[str] = mapped_column(String(255), index=True)
    access_ip_v4: Mapped[str | None] = mapped_column(String(39), nullable=True)
    access_ip_v6: Mapped[str | None] = mapped_column(String(39), nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    kernel_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ramdisk_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    root_device_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the image's properties the guest needs again (os_command_line, min_disk, ...)
    image_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # security group names, and the ids they resolved to at create
    security_groups: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # what was asked for: [{"uuid"|"port"|"fixed_ip"|"tag": ...}] or "auto"/"none"
    requested_networks: Mapped[Any] = mapped_column(JSON, nullable=True)
    personality: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [path, b64]
    # {"message", "code", "details", "created"} of the last failure (shown in ERROR)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # what an action under way must remember (Nova's system metadata): the flavor and
    # vm_state before a resize, the image a shelved server boots from again
    system_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)

    tags: Mapped[list[InstanceTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InstanceTag.tag")
    block_devices: Mapped[list[BlockDeviceMapping]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="BlockDeviceMapping.id")
    interfaces: Mapped[list[VirtualInterface]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="VirtualInterface.id")


class InstanceTag(Base):
    __tablename__ = "instance_tag"
    instance_uuid: Mapped[str] = mapped_column(
        ForeignKey("instance.uuid", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(80), primary_key=True)


class BlockDeviceMapping(Base):
    """A disk of a server: its image root (source image, destination local) or a volume
    (destination volume, whatever its source) with the attachment that connects it."""

    __tablename__ = "block_device_mapping"
    # ids are never reused (tasks and events are found by id after others went)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_id, unique=True)
    instance_uuid: Mapped[str] = mapped_column(
        ForeignKey("instance.uuid", ondelete="CASCADE"), index=True)
    source_type: Mapped[str] = mapped_column(String(16))  # image volume snapshot blank
    destination_type: Mapped[str] = mapped_column(String(16))  # local volume
    boot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    volume_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    volume_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    volume_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    attachment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # attaching -> attached -> detaching -> (row gone); "attached" for boot disks
    status: Mapped[str] = mapped_column(String(16), default="attaching")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VirtualInterface(Base):
    """A server's port on the networking service. ``preexisting``: the user gave the port
    (it survives the server, unbound); otherwise compute made it and deletes it."""

    __tablename__ = "virtual_interface"
    # ids are never reused (tasks and events are found by id after others went)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(
        ForeignKey("instance.uuid", ondelete="CASCADE"), index=True)
    port_id: Mapped[str] = mapped_column(String(36), index=True)
    network_id: Mapped[str] = mapped_column(String(36))
    network_name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(17))
    preexisting: Mapped[bool] = mapped_column(Boolean, default=False)
    tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the port's fixed IPs as last seen: [{"ip_address", "subnet_id", "version"}]
    fixed_ips: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class InstanceAction(Base):
    """One user request on a server (``os-instance-actions``) and its events."""

    __tablename__ = "instance_action"
    # ids are never reused (tasks and events are found by id after others went)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    events: Mapped[list[InstanceActionEvent]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="InstanceActionEvent.id")


class InstanceActionEvent(Base):
    __tablename__ = "instance_action_event"
    # ids are never reused (tasks and events are found by id after others went)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("instance_action.id",
                                                      ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    result: Mapped[str | None] = mapped_column(String(255), nullable=True)  # Success|Error
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    start_time: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Task(Base):
    """Work for a host's agent: one operation on one server, done in order per server.

    The API (or the scheduler) writes it in the transaction that sets the server's task
    state; the agent of ``host`` runs it and removes it. A task still here after an
    agent restart is run again (``started`` tells it was under way): operations are
    written so that running one twice does no harm.
    """

    __tablename__ = "task"
    # ids are never reused (tasks and events are found by id after others went)
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    op: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    action_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ServerGroup(Base):
    __tablename__ = "server_group"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    members: Mapped[list[ServerGroupMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ServerGroupMember.added_at")


class ServerGroupMember(Base):
    __tablename__ = "server_group_member"
    group_id: Mapped[str] = mapped_column(ForeignKey("server_group.id", ondelete="CASCADE"),
                                          primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Service(Base):
    """A compute service (``nova-compute`` on each hypervisor host; the API's own
    ``nova-scheduler`` and ``nova-conductor``), alive while it reports."""

    __tablename__ = "service"
    __table_args__ = (UniqueConstraint("host", "binary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_id, unique=True)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    zone: Mapped[str] = mapped_column(String(255), default="internal")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    last_seen_up: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ComputeNode(Base):
    """A hypervisor: what its host has (the agent reports it); what servers use is counted
    from the instances placed on it."""

    __tablename__ = "compute_node"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_id, unique=True)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255))
    hypervisor_type: Mapped[str] = mapped_column(String(255))
    hypervisor_version: Mapped[int] = mapped_column(Integer)
    host_ip: Mapped[str] = mapped_column(String(39), default="127.0.0.1")
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    local_gb: Mapped[int] = mapped_column(Integer)
    free_disk_gb: Mapped[int] = mapped_column(Integer, default=0)  # of the file system
    cpu_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class QuotaLimit(Base):
    """A project's own limit for one resource (absent: the configured default)."""

    __tablename__ = "quota_limit"
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class ConsoleToken(Base):
    """A console URL's one-time token, kept as its SHA-256 (the token itself is only in
    the URL): the server and console it opens, where the guest's console is on its host
    (VNC: address and port; serial: the pty's path), until when, and whether it was
    used (a second connection with it is refused)."""

    __tablename__ = "console_token"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    console_type: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
