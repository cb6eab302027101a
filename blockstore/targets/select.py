"""Pick the iSCSI target driver this host can run.

LIO (the kernel target) where configfs has a ``target`` directory and
rtslib-fb imports; tgt (userspace tgtd) everywhere else.
"""

from __future__ import annotations

import os

from blockstore.targets.base import TargetDriver
from blockstore.targets.lio import CONFIGFS_TARGET, LioDriver, rtslib_available
from blockstore.targets.tgt import TgtDriver


def lio_unavailable_reason(configfs_target: str = CONFIGFS_TARGET) -> str | None:
    """Why LIO cannot run here, or None when it can."""
    if not os.path.isdir(configfs_target):
        return f"no configfs ({configfs_target} missing): LIO cannot run on this kernel"
    if not rtslib_available():
        return "rtslib-fb is not installed: LIO cannot be driven"
    return None


def choose_driver_name(configfs_target: str = CONFIGFS_TARGET) -> str:
    """``"lio"`` when LIO can run here, else ``"tgt"``."""
    return "tgt" if lio_unavailable_reason(configfs_target) else "lio"


def select_driver(*, portal_address: str = "127.0.0.1", portal_port: int = 3260,
                  tgt_control_port: int | None = None, prefer: str | None = None,
                  configfs_target: str = CONFIGFS_TARGET) -> TargetDriver:
    """The driver for this host: ``prefer`` ("tgt"/"lio") or the automatic choice.

    Raises ValueError for an unknown name, or for "lio" where LIO cannot run.
    """
    name = prefer or choose_driver_name(configfs_target)
    if name == "lio":
        reason = lio_unavailable_reason(configfs_target)
        if reason:
            raise ValueError(reason)
        return LioDriver(portal_address=portal_address, portal_port=portal_port)
    if name == "tgt":
        return TgtDriver(portal_address=portal_address, portal_port=portal_port,
                         control_port=tgt_control_port)
    raise ValueError(f"unknown iSCSI target driver {name!r} (tgt or lio)")
