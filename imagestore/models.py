"""Image tables (SQLAlchemy 2 ORM). Changes go through a new Alembic migration.

One row per image in ``image``; its tags, extra properties and members in
their own tables so that listings filter on them in SQL. Deleted images are
removed (Glance keeps soft-deleted rows; nothing here reads them back).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    pass


class Image(Base):
    __tablename__ = "image"
    __table_args__ = (
        Index("ix_image_owner_status", "owner", "status"),
        Index("ix_image_created", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(30), default="queued")
    visibility: Mapped[str] = mapped_column(String(20), default="shared", index=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    disk_format: Mapped[str | None] = mapped_column(String(20), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(20), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), nullable=True)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    # Where the data is: the store's id and the store's own location string.
    store: Mapped[str | None] = mapped_column(String(64), nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Bytes staged for an interoperable import (counted against the quota).
    staged_size: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    tags: Mapped[list[ImageTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ImageTag.value")
    properties: Mapped[list[ImageProperty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ImageProperty.name")
    members: Mapped[list[ImageMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="ImageMember.created_at")


class ImageTag(Base):
    __tablename__ = "image_tag"
    image_id: Mapped[str] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class ImageProperty(Base):
    __tablename__ = "image_property"
    __table_args__ = (Index("ix_image_property_name_value", "name", "value"),)
    image_id: Mapped[str] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ImageMember(Base):
    __tablename__ = "image_member"
    image_id: Mapped[str] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True)
    member: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Task(Base):
    """An asynchronous task: today the interoperable import of one image
    (``type`` ``api_image_import``); the same table serves ``POST /v2/tasks``
    (``type`` ``import``), whose tasks name no image until they make one.

    ``input`` and ``result`` are JSON text; ``message`` says why a task
    failed; ``expires_at`` is set when it ends (listings drop expired tasks).
    """

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_image", "image_id", "created_at"),
        Index("ix_task_owner_created", "owner", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30), default="pending")
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    input: Mapped[str] = mapped_column(Text, default="{}")
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# -- metadata definitions (metadefs) ------------------------------------------------------


class MetadefNamespace(Base):
    """A namespace of metadata definitions: properties (by name), objects (named
    groups of properties), tags, and the resource types it applies to. Property and
    object definitions are JSON text, as the API takes them."""

    __tablename__ = "metadef_namespace"
    __table_args__ = (Index("ix_metadef_namespace_created", "created_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    visibility: Mapped[str] = mapped_column(String(32), default="private")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    objects: Mapped[list[MetadefObject]] = relationship(
        cascade="all, delete-orphan", order_by="MetadefObject.id")
    properties: Mapped[list[MetadefProperty]] = relationship(
        cascade="all, delete-orphan", order_by="MetadefProperty.name")
    tags: Mapped[list[MetadefTag]] = relationship(
        cascade="all, delete-orphan", order_by="MetadefTag.id")
    associations: Mapped[list[MetadefAssociation]] = relationship(
        cascade="all, delete-orphan", lazy="selectin",
        order_by="MetadefAssociation.created_at")


class _InNamespace:
    """What a namespace's objects, properties and tags share: a row id, their
    namespace (deleted with it) and timestamps."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespace.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MetadefObject(_InNamespace, Base):
    __tablename__ = "metadef_object"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    required: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    schema: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: its properties


class MetadefProperty(_InNamespace, Base):
    __tablename__ = "metadef_property"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    schema: Mapped[str] = mapped_column(Text)  # JSON: the definition, without its name


class MetadefTag(_InNamespace, Base):
    __tablename__ = "metadef_tag"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    name: Mapped[str] = mapped_column(String(80))


class MetadefResourceType(Base):
    """A kind of resource definitions apply to (``OS::Glance::Image``...)."""

    __tablename__ = "metadef_resource_type"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MetadefAssociation(Base):
    """A namespace applies to a resource type, its property names with ``prefix``."""

    __tablename__ = "metadef_namespace_resource_type"
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespace.id", ondelete="CASCADE"), primary_key=True)
    resource_type_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_resource_type.id", ondelete="CASCADE"), primary_key=True,
        index=True)
    prefix: Mapped[str | None] = mapped_column(String(80), nullable=True)
    properties_target: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    resource_type: Mapped[MetadefResourceType] = relationship(lazy="joined")
