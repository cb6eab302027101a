"""Networking tables (SQLAlchemy 2 ORM). Changes go through a new Alembic migration.

The database is the truth: the host agent builds the data path's desired state
from these rows (``network.core.desired``). Every API resource carries Neutron's
standard attributes (``revision_number``, ``created_at``/``updated_at``,
``description``, and ``tags`` where the tag extension reaches). A project id
of ``""`` marks a port the service owns itself (router gateways, floating IP
addresses), which no project sees, as upstream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Standard:
    """Neutron's standard attributes, shared by every API resource."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def touch(self) -> None:
        """Record an update: a new revision and ``updated_at``."""
        self.revision_number = (self.revision_number or 0) + 1
        self.updated_at = utcnow()


class Tagged(Standard):
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)


class Network(Tagged, Base):
    __tablename__ = "networks"
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)  # router:external
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    availability_zone_hints: Mapped[list[str]] = mapped_column(JSON, default=list)
    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", order_by="Subnet.created_at, Subnet.id")


class Subnet(Tagged, Base):
    __tablename__ = "subnets"
    name: Mapped[str] = mapped_column(String(255), default="")
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    subnetpool_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    network: Mapped[Network] = relationship(back_populates="subnets")


class SubnetPool(Tagged, Base):
    __tablename__ = "subnetpools"
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    default_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    address_scope_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class PortSecurityGroup(Base):
    __tablename__ = "port_security_groups"
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id"),
                                                   primary_key=True, index=True)


class Port(Tagged, Base):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address",
                                       name="uq_ports_network_mac"),)
    name: Mapped[str] = mapped_column(String(255), default="")
    network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    host: Mapped[str] = mapped_column(String(255), default="")  # binding:host_id
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        order_by="IPAllocation.id", cascade="all, delete-orphan")
    security_groups: Mapped[list[SecurityGroup]] = relationship(
        secondary="port_security_groups", order_by="SecurityGroup.created_at")


class IPAllocation(Base):
    """One fixed IP of a port. Unique per subnet, so two transactions can never hand out
    the same address (the loser retries)."""

    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address",
                                       name="uq_ip_allocations_subnet_ip"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("ports.id"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))


class Router(Tagged, Base):
    __tablename__ = "routers"
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class FloatingIP(Tagged, Base):
    __tablename__ = "floatingips"
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("networks.id"), index=True)
    floating_port_id: Mapped[str] = mapped_column(String(36))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class SecurityGroup(Tagged, Base):
    __tablename__ = "security_groups"
    name: Mapped[str] = mapped_column(String(255), default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    rules: Mapped[list[SecurityGroupRule]] = relationship(
        foreign_keys="SecurityGroupRule.security_group_id",
        order_by="SecurityGroupRule.created_at, SecurityGroupRule.id",
        cascade="all, delete-orphan")


class DefaultSecurityGroup(Base):
    """A project's ``default`` group, made on its first use (one per project)."""

    __tablename__ = "default_security_groups"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id"))


class SecurityGroupRule(Standard, Base):
    __tablename__ = "security_group_rules"
    security_group_id: Mapped[str] = mapped_column(ForeignKey("security_groups.id"),
                                                   index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(4))
    protocol: Mapped[str | None] = mapped_column(String(40), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("security_groups.id"), nullable=True, index=True)


class QuotaLimit(Base):
    """A project's own limit for one resource (absent: the configured default)."""

    __tablename__ = "network_quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class Setting(Base):
    """Service-wide facts that outlive a restart (e.g. that the bootstrap ran)."""

    __tablename__ = "network_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
