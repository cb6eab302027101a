"""iSCSI targets served by LIO, the Linux kernel target, through rtslib-fb.

``LioDriver`` implements :mod:`blockstore.targets.base`'s contract by
writing the kernel's configfs tree (``/sys/kernel/config/target``) with
rtslib-fb. It needs root, configfs and the ``target_core_mod`` /
``iscsi_target_mod`` modules; :mod:`blockstore.targets.select` only picks it
where ``/sys/kernel/config/target`` exists.

How the contract maps onto LIO, per volume:

- a fileio storage object ``volume-<id>`` on the backing path (a regular
  file's size is fixed when the object is made, so ``resize`` re-creates
  the object and its LUN mappings; a block device follows its own size);
- target ``iqn.2010-10.org.openstack:volume-<id>``, TPG 1, LUN 0, one
  network portal (the driver's), ``authentication=1``;
- with initiators: ``generate_node_acls=0`` and one node ACL per initiator,
  each with the CHAP credentials and LUN 0 mapped; without: demo mode
  (``generate_node_acls=1``, writable) with TPG-level CHAP credentials, so
  any initiator may log in but only with the secret;
- configfs is not persistent: after a reboot ``restore`` rebuilds it.

rtslib writes configfs synchronously, so every operation runs in a worker
thread, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from blockstore.targets.base import (
    VOLUME_PREFIX,
    Export,
    ExportSpec,
    TargetBusy,
    TargetError,
    check_export_args,
    check_volume_id,
    cinder_connection_info,
    format_portal,
    restore_all,
    target_iqn,
    volume_id_of,
)

CONFIGFS_TARGET = "/sys/kernel/config/target"
VOLUME_LUN = 0
TPG_TAG = 1


def rtslib_available() -> bool:
    """True when rtslib-fb imports."""
    try:
        import rtslib_fb  # type: ignore[import-untyped,import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class _Settings:
    path: str
    chap_user: str
    chap_password: str
    initiators: tuple[str, ...]


class LioDriver:
    """The LIO target driver; see the module docstring."""

    name = "lio"

    def __init__(self, *, portal_address: str = "127.0.0.1", portal_port: int = 3260) -> None:
        self.portal_address = portal_address
        self.portal_port = portal_port
        self.portal = format_portal(portal_address, portal_port)
        self._lock = asyncio.Lock()

    async def _run(self, func: Any, *args: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.to_thread(func, *args)
            except TargetError:
                raise
            except Exception as exc:  # rtslib raises RTSLibError, OSError, ValueError...
                raise TargetError(f"LIO: {type(exc).__name__}: {exc}") from exc

    # ---- the contract

    async def ensure_export(self, volume_id: str, path: str, *, chap_user: str,
                            chap_password: str, initiators: Sequence[str] = ()) -> Export:
        acl = check_export_args(volume_id, path, chap_user, chap_password, initiators)
        await self._run(self._ensure, volume_id,
                        _Settings(path, chap_user, chap_password, acl), False)
        return Export(target_iqn=target_iqn(volume_id), portal=self.portal, lun=VOLUME_LUN,
                      auth_method="CHAP", auth_username=chap_user, auth_password=chap_password)

    async def remove_export(self, volume_id: str) -> None:
        check_volume_id(volume_id)
        await self._run(self._remove, volume_id)

    async def list_exports(self) -> list[str]:
        ids: list[str] = await self._run(self._list)
        return ids

    async def resize(self, volume_id: str) -> None:
        check_volume_id(volume_id)
        await self._run(self._resize, volume_id)

    async def restore(self, specs: Iterable[ExportSpec]) -> dict[str, Export]:
        return await restore_all(self, specs)

    def connection_info(self, volume_id: str, export: Export) -> dict[str, object]:
        return cinder_connection_info(volume_id, export)

    # ---- rtslib, in a worker thread

    @staticmethod
    def _rts() -> Any:
        import rtslib_fb  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return rtslib_fb

    def _find_target(self, rts: Any, volume_id: str) -> Any | None:
        iqn = target_iqn(volume_id)
        for target in rts.FabricModule("iscsi").targets:
            if target.wwn == iqn:
                return target
        return None

    def _find_storage(self, rts: Any, volume_id: str) -> Any | None:
        name = VOLUME_PREFIX + volume_id
        for so in rts.RTSRoot().storage_objects:
            if so.plugin == "fileio" and so.name == name:
                return so
        return None

    def _ensure(self, volume_id: str, want: _Settings, force_new_storage: bool) -> None:
        rts = self._rts()
        rts.RTSRoot()  # mounts configfs and loads target_core_mod when needed
        so = self._find_storage(rts, volume_id)
        mode = os.stat(want.path).st_mode
        size = None if stat.S_ISBLK(mode) else os.stat(want.path).st_size
        if so is not None and (force_new_storage or so.udev_path != want.path
                               or (size is not None and so.size != size)):
            so.delete()  # also deletes its LUNs (and their ACL mappings)
            so = None
        if so is None:
            so = rts.FileIOStorageObject(VOLUME_PREFIX + volume_id, dev=want.path, size=size,
                                         write_back=False)
            with contextlib.suppress(Exception):  # UNMAP support: discard=True in the info
                so.set_attribute("emulate_tpu", "1")

        target = rts.Target(rts.FabricModule("iscsi"), target_iqn(volume_id), mode="any")
        tpg = rts.TPG(target, TPG_TAG, mode="any")
        lun = None
        for existing in tpg.luns:
            if existing.lun == VOLUME_LUN and existing.storage_object.path == so.path:
                lun = existing
            else:
                existing.delete()
        if lun is None:
            lun = rts.LUN(tpg, VOLUME_LUN, so)

        portals = [(p.ip_address, p.port) for p in tpg.network_portals]
        if (self.portal_address, self.portal_port) not in portals:
            rts.NetworkPortal(tpg, self.portal_address, self.portal_port, mode="any")
        for portal in tpg.network_portals:
            if (portal.ip_address, portal.port) != (self.portal_address, self.portal_port):
                portal.delete()

        tpg.set_attribute("authentication", "1")
        if want.initiators:
            tpg.set_attribute("generate_node_acls", "0")
            for acl in tpg.node_acls:
                if acl.node_wwn not in want.initiators:
                    acl.delete()
            for name in want.initiators:
                acl = rts.NodeACL(tpg, name, mode="any")
                acl.chap_userid = want.chap_user
                acl.chap_password = want.chap_password
                mapped = {m.mapped_lun: m for m in acl.mapped_luns}
                current = mapped.get(VOLUME_LUN)
                if current is not None and current.tpg_lun.lun != lun.lun:
                    current.delete()
                    current = None
                if current is None:
                    rts.MappedLUN(acl, VOLUME_LUN, lun, write_protect=False)
            # TPG-level (demo mode) credentials are not used: clear them.
            with contextlib.suppress(Exception):
                tpg.chap_userid = ""
                tpg.chap_password = ""
        else:
            for acl in tpg.node_acls:
                acl.delete()
            tpg.set_attribute("generate_node_acls", "1")
            tpg.set_attribute("cache_dynamic_acls", "1")
            tpg.set_attribute("demo_mode_write_protect", "0")
            tpg.chap_userid = want.chap_user
            tpg.chap_password = want.chap_password
        tpg.enable = True

    def _remove(self, volume_id: str) -> None:
        rts = self._rts()
        target = self._find_target(rts, volume_id)
        if target is not None:
            target.delete()
        so = self._find_storage(rts, volume_id)
        if so is not None:
            so.delete()

    def _list(self) -> list[str]:
        rts = self._rts()
        rts.RTSRoot()
        ids = (volume_id_of(t.wwn) for t in rts.FabricModule("iscsi").targets)
        return sorted(vid for vid in ids if vid is not None)

    def _resize(self, volume_id: str) -> None:
        rts = self._rts()
        target = self._find_target(rts, volume_id)
        so = self._find_storage(rts, volume_id)
        if target is None or so is None:
            raise TargetError(f"volume {volume_id} is not exported")
        tpg = rts.TPG(target, TPG_TAG, mode="lookup")
        acls = list(tpg.node_acls)
        if _has_sessions(tpg, acls):
            # the fileio object is re-created to take the new size: a session's
            # commands in between would fail
            raise TargetBusy(f"volume {volume_id}: initiator sessions logged in; the LUN "
                             "keeps its old size until they log out")
        if acls and tpg.get_attribute("generate_node_acls").strip() == "0":
            user, password = acls[0].chap_userid, acls[0].chap_password
            initiators = tuple(sorted(acl.node_wwn for acl in acls))
        else:
            user, password, initiators = tpg.chap_userid, tpg.chap_password, ()
        self._ensure(volume_id, _Settings(so.udev_path, user, password, initiators), True)


def _has_sessions(tpg: Any, acls: list[Any]) -> bool:
    """Whether an initiator is logged in to the TPG: a node ACL's session, or one of
    the sessions demo mode makes without ACLs (``dynamic_sessions``)."""
    if any(acl.session for acl in acls):
        return True
    try:
        with open(os.path.join(tpg.path, "dynamic_sessions"), encoding="utf-8") as fh:
            return bool(fh.read().strip("\x00 \n"))
    except OSError:
        return False
