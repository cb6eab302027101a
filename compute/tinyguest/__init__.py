"""Strata's tiny test guest: a Debian kernel and a busybox initramfs, built from apt.

See :mod:`compute.tinyguest.builder`; ``strata image tiny`` uploads the result.
"""

from compute.tinyguest.builder import (
    READY_MARKER,
    ROOT_MAGIC,
    TinyGuest,
    TinyGuestError,
    build,
    default_cache_dir,
)

__all__ = ["READY_MARKER", "ROOT_MAGIC", "TinyGuest", "TinyGuestError", "build",
           "default_cache_dir"]
