"""The EC2 front's own tables (SQLAlchemy 2 ORM). Changes go through a new Alembic
migration.

The front keeps no copy of any service's resources: only what EC2 has and the
native APIs do not.

* ``ec2_ids``: each EC2 id (``vol-0123456789abcdef0``) and the native id it
  names (a volume's UUID). An id is given once, on first sight of the resource
  (made through EC2 or natively), and never changes or moves to another
  resource: the pair is unique, and rows are never deleted. A few EC2 resources
  are pairs of native ones (an address association is a floating IP on a port):
  their ``uuid`` is composite, and when the pair ends the row is *retired*
  (its ``uuid`` gets a suffix), so a later association of the same pair is a new
  resource with a new id.
* ``ec2_reservations``: which reservation (``r-`` id) each instance made by one
  ``RunInstances`` is in (compute shows a server's reservation to admins only).
  A server made natively has no row: it is a reservation of its own. The row
  keeps the user data RunInstances gave (base64; compute shows a server's user
  data to admins only, EC2's DescribeInstanceAttribute to its owner).
* ``ec2_tags``: EC2 tags (key/value), per project as EC2 keeps them (tags a
  project puts on a shared image are its own), on the EC2 id of the resource.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    pass


class Ec2Id(Base):
    __tablename__ = "ec2_ids"
    __table_args__ = (UniqueConstraint("kind", "uuid", name="uq_ec2_ids_kind_uuid"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    uuid: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Tag(Base):
    __tablename__ = "ec2_tags"
    __table_args__ = (Index("ix_ec2_tags_project_type", "project_id", "resource_type"),)

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), default="")
    resource_type: Mapped[str] = mapped_column(String(32))


class Reservation(Base):
    __tablename__ = "ec2_reservations"

    instance_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(String(40), index=True)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
