"""Image data stores: one contract (:mod:`imagestore.stores.base`), three implementations.

``memory`` (the reference, for tests), ``filesystem`` (a local directory) and
``swift`` (Strata's object store, the default).
"""

from imagestore.stores.base import (
    AlreadyExists,
    ByteStream,
    ImageStore,
    InvalidLocation,
    NotFound,
    Stored,
    StoreError,
    StoreFull,
)

__all__ = ["AlreadyExists", "ByteStream", "ImageStore", "InvalidLocation", "NotFound",
           "StoreError", "StoreFull", "Stored"]
