"""Per-container and per-account SQLite databases (docs/storage-protocol.md).

* :mod:`objectstore.db.base` -- the shared broker: file creation, info row,
  metadata, merge, replication sync points, tombstone reclaim, listings;
* :mod:`objectstore.db.container` / :mod:`objectstore.db.account` -- the two kinds;
* :mod:`objectstore.db.cache` -- an LRU of open brokers and group commit.
"""

from objectstore.db.account import AccountBroker
from objectstore.db.base import (
    SCHEMA_VERSION,
    BrokerInfo,
    DatabaseAlreadyExists,
    DatabaseBroker,
    DatabaseError,
    DatabaseNotFound,
    InvalidMetadata,
    Metadata,
    MetadataLimits,
    UnsupportedSchema,
)
from objectstore.db.cache import BrokerCache, GroupCommitter
from objectstore.db.container import ContainerBroker

__all__ = [
    "SCHEMA_VERSION",
    "AccountBroker",
    "BrokerCache",
    "BrokerInfo",
    "ContainerBroker",
    "DatabaseAlreadyExists",
    "DatabaseBroker",
    "DatabaseError",
    "DatabaseNotFound",
    "GroupCommitter",
    "InvalidMetadata",
    "Metadata",
    "MetadataLimits",
    "UnsupportedSchema",
]
