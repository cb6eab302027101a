"""Identity tables (SQLAlchemy 2 ORM). Changes go through a new Alembic migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Domain(Base):
    __tablename__ = "domain"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Group(Base):
    __tablename__ = "group"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domain.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Membership(Base):
    __tablename__ = "membership"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[str] = mapped_column(
        ForeignKey("group.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Role(Base):
    __tablename__ = "role"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Assignment(Base):
    """A role granted to a user or group on a project, a domain or the system.

    A system grant has target_type ``system`` and target_id ``all``.
    """

    __tablename__ = "assignment"
    actor_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | group
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    # project | domain | system
    target_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
    )


class Region(Base):
    __tablename__ = "region"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Service(Base):
    __tablename__ = "service"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Endpoint(Base):
    __tablename__ = "endpoint"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("service.id", ondelete="CASCADE"), index=True
    )
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Credential(Base):
    """A credential; the blob is stored encrypted with the credential keys."""

    __tablename__ = "credential"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type: Mapped[str] = mapped_column(String(255))
    encrypted_blob: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # An EC2 credential's lookup key: SHA-256 of its access key. It starts equal to
    # the id (Keystone's id for an EC2 credential) and follows the access key when a
    # PATCH changes it, while the id stays put.
    access_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )


class RevocationEvent(Base):
    """Tokens matching every non-null field, issued before ``issued_before``, are revoked."""

    __tablename__ = "revocation_event"
    __table_args__ = (Index("ix_revocation_audit", "audit_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_before: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class InheritedAssignment(Base):
    """OS-INHERIT: a role granted to a user or group on a domain or project that
    applies to every project below it (all the domain's projects; the project's
    subtree), existing or future, and never to the target itself."""

    __tablename__ = "inherited_assignment"
    actor_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # user | group
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    target_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # project | domain
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("role.id", ondelete="CASCADE"), primary_key=True
    )


class ApplicationCredential(Base):
    """A user's delegation of (some of) its roles on one project to an application.

    Only a hash of the secret is kept; ``role_ids`` are the delegated roles.
    """

    __tablename__ = "application_credential"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False)
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccessRule(Base):
    """An access rule (service, method, path) of a user's application credentials."""

    __tablename__ = "access_rule"
    __table_args__ = (UniqueConstraint("user_id", "service", "method", "path"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    service: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(255))


class ApplicationCredentialAccessRule(Base):
    __tablename__ = "application_credential_access_rule"
    app_cred_id: Mapped[str] = mapped_column(
        ForeignKey("application_credential.id", ondelete="CASCADE"), primary_key=True
    )
    access_rule_id: Mapped[str] = mapped_column(
        ForeignKey("access_rule.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class EndpointGroup(Base):
    """OS-EP-FILTER: the endpoints whose attributes match ``filters``."""

    __tablename__ = "endpoint_group"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ProjectEndpoint(Base):
    """OS-EP-FILTER: an endpoint a project's catalog shows."""

    __tablename__ = "project_endpoint"
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("endpoint.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ProjectEndpointGroup(Base):
    """OS-EP-FILTER: an endpoint group whose endpoints a project's catalog shows."""

    __tablename__ = "project_endpoint_group"
    endpoint_group_id: Mapped[str] = mapped_column(
        ForeignKey("endpoint_group.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DomainConfigOption(Base):
    """One option of a domain-specific configuration (groups ``identity``, ``ldap``)."""

    __tablename__ = "domain_config"
    domain_id: Mapped[str] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), primary_key=True
    )
    group: Mapped[str] = mapped_column(String(255), primary_key=True)
    option: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class OAuthConsumer(Base):
    """OS-OAUTH1: a consumer; its secret is kept encrypted (the HMAC needs it)."""

    __tablename__ = "oauth_consumer"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OAuthRequestToken(Base):
    """OS-OAUTH1: a request token, authorized by a user with some of its roles."""

    __tablename__ = "oauth_request_token"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    consumer_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_consumer.id", ondelete="CASCADE"), index=True
    )
    requested_project_id: Mapped[str] = mapped_column(String(64))
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    authorizing_user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OAuthAccessToken(Base):
    """OS-OAUTH1: an access token a consumer exchanges for Keystone tokens."""

    __tablename__ = "oauth_access_token"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    consumer_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_consumer.id", ondelete="CASCADE"), index=True
    )
    authorizing_user_id: Mapped[str] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64))
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OAuthNonce(Base):
    """OS-OAUTH1: nonces seen in signed requests, kept as long as their timestamp
    is acceptable, so that a signed request cannot be replayed."""

    __tablename__ = "oauth_nonce"
    consumer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime, index=True)
