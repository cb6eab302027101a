"""iSCSI target drivers: one contract (``base``), tgt and LIO implementations, and
``select_driver`` to pick the one this host can run."""

from blockstore.targets.base import (
    Connector,
    Export,
    ExportSpec,
    RestoreError,
    TargetBusy,
    TargetDriver,
    TargetError,
    target_iqn,
)
from blockstore.targets.keeper import TgtdKeeper
from blockstore.targets.lio import LioDriver
from blockstore.targets.select import choose_driver_name, lio_unavailable_reason, select_driver
from blockstore.targets.tgt import TgtDaemon, TgtDriver

__all__ = [
    "Connector",
    "Export",
    "ExportSpec",
    "LioDriver",
    "RestoreError",
    "TargetBusy",
    "TargetDriver",
    "TargetError",
    "TgtDaemon",
    "TgtDriver",
    "TgtdKeeper",
    "choose_driver_name",
    "lio_unavailable_reason",
    "select_driver",
    "target_iqn",
]
