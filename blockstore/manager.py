"""The volume manager: drives the backend and the iSCSI target for the API.

The API writes the wanted change to the database and answers (202 where
Cinder does); the manager then does the slow part in a background task and
records the outcome (``available``, ``error``, row gone) in the same
database, which stays the source of truth:

* create (blank, from a snapshot, from another volume, from an image that
  it downloads from the image service), delete (optionally with its
  snapshots), extend (also while attached: the target LUN is resized),
  snapshot create and delete;
* exports: ``export`` (initialize_connection) makes the backend's raw view
  and the target, with CHAP credentials generated once per volume and kept
  in its row, and the ACL limited to the connector's initiator;
  ``unexport`` removes them;
* backups (``blockstore.backups``): create (a raw copy of the volume, of a
  temporary snapshot's clone while it is in use, cut into chunks in the
  object store), restore (into a new or an existing volume, written through
  its export path), delete; upload-to-image (``copy_to_file`` in the image's
  disk format, PUT to the image service with the caller's token);
* restarts: at start every volume whose row says ``exported`` is exported
  again; a watchdog checks every ``target_check_interval`` seconds that
  tgtd runs (restarting the one it manages) and that every such export is
  still there, restoring what a tgtd restart lost.

Domain errors only (no HTTP): ``blockstore.errors`` for the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import messages
from blockstore import models as m
from blockstore.backends import BackendError, VolumeBackend
from blockstore.backups import BackupEngine, BackupError, Written
from blockstore.errors import Invalid, NotFound, Unavailable
from blockstore.targets import (
    Connector,
    ExportSpec,
    RestoreError,
    TargetDriver,
    TargetError,
    TgtdKeeper,
)
from common.db import Database
from common.httpclient import RemoteError
from imagestore.client import ImageClient

log = logging.getLogger(__name__)
T = TypeVar("T")
_Row = TypeVar("_Row", m.Volume, m.Snapshot, m.Backup)
CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageRef:
    """An image in the image service: a new volume's source (its bytes are downloaded),
    or an upload's target (queued, made by the API; the volume's bytes fill it)."""

    images: ImageClient  # with the requesting user's token (the image is, or may be, theirs)
    image_id: str
    disk_format: str  # source: as the image says; target: raw or qcow2


def _chap_credentials() -> tuple[str, str]:
    """A CHAP user (unique: tgt accounts are global) and a 16-character secret."""
    return f"u{secrets.token_hex(9)}", secrets.token_hex(8)


class VolumeManager:
    def __init__(self, db: Database, backend: VolumeBackend, driver: TargetDriver, *,
                 staging: Path,
                 keeper: TgtdKeeper | None = None, check_interval: float = 5.0,
                 backups: BackupEngine | None = None, message_ttl: int = 2592000) -> None:
        self.db = db
        self.message_ttl = message_ttl
        self.backups = backups
        self.backend = backend
        self.driver = driver
        self.staging = staging
        self.keeper = keeper
        self.check_interval = check_interval
        self.tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        # volumes grown while their target could not re-read the size (an initiator
        # was logged in: TargetBusy): the watchdog retries the rescan
        self._rescan_pending: set[str] = set()
        self._watchdog: asyncio.Task[None] | None = None

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)
        await self.backend.open()
        if self.keeper is not None:
            await self.keeper.ensure()
        await self.restore_exports()
        await self._fail_interrupted()
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        tasks = list(self.tasks)
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.keeper is not None:
            # our tgtd stops with us (``strata down``): the backend's exports then
            # serve nobody, release them too (start() makes them again from the rows)
            await self.keeper.stop()
            exported = await self._db(lambda s: list(s.scalars(select(m.Volume.id).where(
                m.Volume.exported.is_(True)))))
            for vid in exported:
                try:
                    await self.backend.release_export(vid)
                except BackendError as exc:
                    log.warning("volume %s: export not released: %s", vid, exc)
        await self.backend.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background operation that the manager cancels when it stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def lock(self, volume_id: str) -> asyncio.Lock:
        return self._locks.setdefault(volume_id, asyncio.Lock())

    async def _db(self, fn: Callable[[Session], T]) -> T:
        return await self.db.run(fn)

    async def _fail_interrupted(self) -> None:
        """Operations a stop interrupted never finish: mark their resources as failed."""
        def fix(s: Session) -> None:
            after = {"deleting": "error_deleting", "extending": "available",
                     "managing": "error_managing"}
            for vol in s.scalars(select(m.Volume).where(m.Volume.status.in_(
                    ("creating", "downloading", "extending", "deleting", "managing",
                     "unmanaging")))):
                vol.status = after.get(vol.status, "error")
                vol.error = "interrupted by a restart of the volume manager"
            for snap in s.scalars(select(m.Snapshot).where(m.Snapshot.status.in_(
                    ("creating", "deleting", "unmanaging")))):
                snap.status = "error_deleting" if snap.status == "deleting" else "error"
            for grp in [*s.scalars(select(m.Group).where(m.Group.status.in_(
                    ("creating", "deleting")))), *s.scalars(select(m.GroupSnapshot).where(
                    m.GroupSnapshot.status.in_(("creating", "deleting"))))]:
                grp.status = "error_deleting" if grp.status == "deleting" else "error"
            for bk in s.scalars(select(m.Backup).where(m.Backup.status.in_(
                    ("creating", "restoring", "deleting")))):
                bk.status = {"creating": "error", "restoring": "available",
                             "deleting": "error_deleting"}[bk.status]
                if bk.status != "available":
                    bk.fail_reason = "interrupted by a restart of the volume manager"
            for vol in s.scalars(select(m.Volume).where(m.Volume.status.in_(
                    ("backing-up", "uploading", "restoring-backup")))):
                attached = s.scalar(select(m.Attachment.id).where(
                    m.Attachment.volume_id == vol.id)) is not None
                vol.status = "error_restoring" if vol.status == "restoring-backup" else (
                    "in-use" if attached else "available")
        await self._db(fix)

    # -- exports ----------------------------------------------------------------------

    async def restore_exports(self, only_missing: bool = False) -> list[str]:
        """Export again every volume the database says is exported; the ids restored.

        Each volume is re-exported under its lock, its row read again there: an
        unexport runs under that lock too (target removed, view released, row
        marked), so one that raced this check is seen finished and not undone."""
        candidates = await self._db(lambda s: list(s.scalars(select(m.Volume.id).where(
            m.Volume.exported.is_(True)))))
        if candidates and only_missing:
            present = set(await self.driver.list_exports())
            candidates = [vid for vid in candidates if vid not in present]
        restored: list[str] = []
        for vid in candidates:
            async with self.lock(vid):
                if await self._restore_export(vid, only_missing):
                    restored.append(vid)
        if restored:
            log.info("restored iSCSI exports of %s", ", ".join(sorted(restored)))
        return sorted(restored)

    async def _restore_export(self, volume_id: str, only_missing: bool) -> bool:
        """Re-export one volume if its row still says so (the volume's lock held)."""
        def row(s: Session) -> tuple[str, str, list[str]] | None:
            v = s.get(m.Volume, volume_id)
            if v is None or not v.exported or not v.chap_user or not v.chap_password:
                return None
            return v.chap_user, v.chap_password, list(v.initiators or ())

        found = await self._db(row)
        if found is None:
            return False
        if only_missing and volume_id in await self.driver.list_exports():
            return False
        user, password, initiators = found
        try:
            path = await self.backend.export_path(volume_id)
        except BackendError as exc:
            log.error("volume %s: cannot re-open its export: %s", volume_id, exc)
            return False
        try:
            await self.driver.restore([ExportSpec(volume_id, path, user, password,
                                                  tuple(initiators))])
        except RestoreError as exc:
            log.error("iSCSI export not restored: %s", exc)
            return False
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.check_targets()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("target check failed")

    async def check_targets(self) -> None:
        """Restart a managed tgtd that died, restore exports a tgtd restart lost, and
        retry the rescans of volumes grown while their LUN was busy."""
        if self.keeper is not None and await self.keeper.ensure():
            log.warning("tgtd was not running: started it again, restoring exports")
        try:
            await self.restore_exports(only_missing=True)
        except TargetError as exc:
            log.warning("cannot list iSCSI targets: %s", exc)
        for vid in sorted(self._rescan_pending):
            async with self.lock(vid):
                await self._retry_rescan(vid)

    async def _retry_rescan(self, volume_id: str) -> None:
        """Have the target re-read a grown volume's size (the volume's lock held)."""
        if not await self._is_exported(volume_id):
            self._rescan_pending.discard(volume_id)  # its next export reads the size
            return
        try:
            await self.driver.resize(volume_id)
        except TargetError:
            return  # still busy (or tgtd away): the next check tries again
        self._rescan_pending.discard(volume_id)
        log.info("volume %s: the target shows its new size now", volume_id)

    async def export(self, volume_id: str, connector: Connector) -> dict[str, object]:
        """Export the volume to ``connector`` and answer Cinder's connection info."""
        async with self.lock(volume_id):
            def creds(s: Session) -> tuple[str, str, list[str]]:
                vol = s.get(m.Volume, volume_id)
                if vol is None:
                    raise NotFound(f"Volume {volume_id} could not be found.")
                if not vol.chap_user or not vol.chap_password:
                    vol.chap_user, vol.chap_password = _chap_credentials()
                initiators = set(vol.initiators or ()) if vol.exported else set()
                initiators.update(connector.initiators())
                return vol.chap_user, vol.chap_password, sorted(initiators)

            user, password, initiators = await self._db(creds)
            try:
                path = await self.backend.export_path(volume_id)
                export = await self.driver.ensure_export(
                    volume_id, path, chap_user=user, chap_password=password,
                    initiators=initiators)
            except TargetError as exc:
                raise Invalid(f"Unable to export volume {volume_id}: {exc}") from None
            except BackendError as exc:
                raise Unavailable(f"Unable to export volume {volume_id}: {exc}") from None

            def mark(s: Session) -> None:
                vol = s.get(m.Volume, volume_id)
                if vol is not None:
                    vol.exported, vol.export_path, vol.initiators = True, path, initiators
            await self._db(mark)
            return self.driver.connection_info(volume_id, export)

    async def unexport(self, volume_id: str) -> None:
        async with self.lock(volume_id):
            await self.driver.remove_export(volume_id)
            await self.backend.release_export(volume_id)

            def mark(s: Session) -> None:
                vol = s.get(m.Volume, volume_id)
                if vol is not None:
                    vol.exported, vol.export_path, vol.initiators = False, None, []
            await self._db(mark)

    # -- background operations ----------------------------------------------------

    async def _set(self, model: type[_Row], row_id: str, **fields: Any) -> None:
        """Set ``fields`` (and ``updated_at``) on a row, if it is still there."""
        def upd(s: Session) -> None:
            row = s.get(model, row_id)
            if row is not None:
                for k, v in fields.items():
                    setattr(row, k, v)
                row.updated_at = m.utcnow()
        await self._db(upd)

    async def _is_exported(self, volume_id: str) -> bool:
        return await self._db(lambda s: bool(
            (v := s.get(m.Volume, volume_id)) is not None and v.exported))

    async def _set_volume(self, volume_id: str, **fields: Any) -> None:
        await self._set(m.Volume, volume_id, **fields)

    async def _set_snapshot(self, snapshot_id: str, **fields: Any) -> None:
        await self._set(m.Snapshot, snapshot_id, **fields)

    async def _set_backup(self, backup_id: str, **fields: Any) -> None:
        await self._set(m.Backup, backup_id, **fields)

    async def outcome(self, what: str, work: Awaitable[T], *,
                       done: Callable[[T], Awaitable[object]],
                       failed: Callable[[str], Awaitable[object]],
                       expected: tuple[type[Exception], ...] | None = None,
                       event: messages.Event | None = None,
                       detail: str = messages.UNKNOWN) -> None:
        """Run a background operation's ``work``, then record its outcome: ``done`` with
        its result, or ``failed`` with the error's message once it is logged (with
        its traceback unless it is of an ``expected`` kind; None: all are) and, for
        an ``event``, a user message (``detail`` unless the error says better)."""
        try:
            result = await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed: %s", what, exc,
                        exc_info=expected is not None and not isinstance(exc, expected))
            await failed(str(exc))
            if event is not None:
                why = messages.detail_for(exc, default=detail)
                await self._db(lambda s: messages.record(s, event, why, self.message_ttl))
            return
        await done(result)

    @staticmethod
    def _event(row: m.Volume | m.Snapshot | m.Backup, kind: str, action: str,
               request_id: str) -> messages.Event:
        return messages.Event(row.project_id, kind, row.id, action, request_id)

    async def create_volume(self, volume_id: str, image: ImageRef | None = None, *,
                            request_id: str = "") -> None:
        """Make the volume the row describes; its status ends ``available`` or ``error``."""
        row = await self._db(lambda s: s.get(m.Volume, volume_id))
        if row is None:
            return

        async def make() -> None:
            async with self.lock(volume_id):
                if row.snapshot_id:
                    await self.backend.create_from_snapshot(volume_id, row.snapshot_id, row.size)
                elif row.source_volid:
                    async with self.lock(row.source_volid):
                        await self.backend.clone(volume_id, row.source_volid, row.size)
                elif image is not None:
                    await self._set_volume(volume_id, status="downloading")
                    await self._from_image(volume_id, row.size, image)
                else:
                    await self.backend.create(volume_id, row.size)

        await self.outcome(
            f"volume {volume_id}: create", make(), expected=(BackendError, Invalid),
            done=lambda _: self._set_volume(volume_id, status="available",
                                            launched_at=m.utcnow()),
            failed=lambda err: self._set_volume(volume_id, status="error", error=err),
            event=self._event(row, messages.VOLUME, "005" if image else "001", request_id),
            detail="021" if image else messages.UNKNOWN)

    async def _from_image(self, volume_id: str, size: int, image: ImageRef) -> None:
        path = self.staging / f"{volume_id}.image"
        try:
            try:
                async with await image.images.download(image.image_id) as download:
                    with path.open("wb") as fh:
                        async for chunk in download.chunks(CHUNK):
                            await asyncio.to_thread(fh.write, chunk)
            except RemoteError as exc:
                raise Invalid(f"image download failed: {exc.message}") from exc
            await self.backend.create_from_image(volume_id, size, str(path), image.disk_format)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def delete_volume(self, volume_id: str, cascade: bool = False, *,
                            request_id: str = "") -> None:
        """Delete the volume (and, with ``cascade``, its snapshots) and its row."""
        row = await self._db(lambda s: s.get(m.Volume, volume_id))
        if row is None:
            return

        async def remove() -> None:
            async with self.lock(volume_id):
                if cascade:
                    snaps = await self._db(lambda s: list(s.scalars(select(m.Snapshot.id).where(
                        m.Snapshot.volume_id == volume_id))))
                    for sid in snaps:
                        await self.backend.delete_snapshot(sid)
                        await self._db(functools.partial(_delete_row, m.Snapshot, sid))
                with contextlib.suppress(TargetError):
                    await self.driver.remove_export(volume_id)
                await self.backend.release_export(volume_id)
                await self.backend.delete(volume_id)

        def drop(s: Session) -> None:
            for att in s.scalars(select(m.Attachment).where(m.Attachment.volume_id == volume_id)):
                s.delete(att)
            _delete_row(m.Volume, volume_id, s)

        async def gone(_: None) -> None:
            await self._db(drop)
            self._locks.pop(volume_id, None)

        await self.outcome(
            f"volume {volume_id}: delete", remove(), done=gone,
            failed=lambda err: self._set_volume(volume_id, status="error_deleting", error=err),
            event=self._event(row, messages.VOLUME, "101", request_id))

    async def extend_volume(self, volume_id: str, new_size: int, back_to: str, *,
                            request_id: str = "") -> None:
        """Grow the volume; a volume exported is rescanned by the target (now, or by
        the watchdog once no initiator is logged in: the volume has grown either way,
        and its size is recorded)."""
        row = await self._db(lambda s: s.get(m.Volume, volume_id))
        if row is None:
            return

        async def grow() -> None:
            async with self.lock(volume_id):
                await self.backend.extend(volume_id, new_size)
                if await self._is_exported(volume_id):
                    try:
                        await self.driver.resize(volume_id)
                    except TargetError as exc:
                        log.warning("volume %s: grown to %d GiB; the target shows it once "
                                    "its initiators log out: %s", volume_id, new_size, exc)
                        self._rescan_pending.add(volume_id)

        await self.outcome(
            f"volume {volume_id}: extend", grow(),
            done=lambda _: self._set_volume(volume_id, status=back_to, size=new_size),
            failed=lambda err: self._set_volume(
                volume_id, status="error_extending" if back_to == "available" else back_to,
                error=err),
            event=self._event(row, messages.VOLUME, "007", request_id))

    async def create_snapshot(self, snapshot_id: str, volume_id: str, *,
                              request_id: str = "") -> None:
        row = await self._db(lambda s: s.get(m.Snapshot, snapshot_id))
        if row is None:
            return

        async def take() -> None:
            async with self.lock(volume_id):
                await self.backend.snapshot(snapshot_id, volume_id)

        await self.outcome(
            f"snapshot {snapshot_id}: create", take(),
            done=lambda _: self._set_snapshot(snapshot_id, status="available",
                                              progress="100%"),
            failed=lambda err: self._set_snapshot(snapshot_id, status="error", error=err),
            event=self._event(row, messages.SNAPSHOT, "009", request_id))

    async def delete_snapshot(self, snapshot_id: str, *, request_id: str = "") -> None:
        row = await self._db(lambda s: s.get(m.Snapshot, snapshot_id))
        if row is None:
            return
        await self.outcome(
            f"snapshot {snapshot_id}: delete", self.backend.delete_snapshot(snapshot_id),
            done=lambda _: self._db(functools.partial(_delete_row, m.Snapshot, snapshot_id)),
            failed=lambda err: self._set_snapshot(snapshot_id, status="error_deleting",
                                                  error=err),
            event=self._event(row, messages.SNAPSHOT, "010", request_id))

    async def stats(self) -> dict[str, int]:
        return await self.backend.stats()

    # -- backups and upload-to-image ------------------------------------------------

    def _engine(self) -> BackupEngine:
        if self.backups is None:
            raise BackupError("backups are not configured (no object store)")
        return self.backups

    async def _raw_copy(self, volume_id: str, size: int, dest: Path, *, live: bool) -> None:
        """The volume's raw bytes in ``dest``; ``live`` (in use): of a snapshot taken now."""
        if not live:
            async with self.lock(volume_id):
                await self.backend.copy_to_file(volume_id, str(dest), "raw")
            return
        tmp = f"bk-{secrets.token_hex(12)}"
        async with self.lock(volume_id):
            await self.backend.snapshot(tmp, volume_id)
        try:
            await self.backend.create_from_snapshot(tmp, tmp, size)
        finally:
            await self.backend.delete_snapshot(tmp)
        try:
            await self.backend.copy_to_file(tmp, str(dest), "raw")
        finally:
            await self.backend.delete(tmp)

    async def create_backup(self, backup_id: str, *, request_id: str = "") -> None:
        """Write the backup the row describes; the volume goes back to its status."""
        row = await self._db(lambda s: s.get(m.Backup, backup_id))
        if row is None:
            return
        back_to = row.volume_back_to or "available"

        async def write() -> Written:
            raw = self.staging / f"{backup_id}.backup"
            try:
                engine = self._engine()
                parent = None
                if row.parent_id:
                    pc = await self._db(lambda s: (b := s.get(m.Backup, row.parent_id)) and
                                        b.container)
                    if not pc:
                        raise BackupError(f"parent backup {row.parent_id} is gone")
                    parent = await engine.metadata(pc, row.parent_id)
                await self._raw_copy(row.volume_id, row.size, raw, live=back_to == "in-use")
                return await engine.write(str(raw), backup_id=backup_id,
                                          volume_id=row.volume_id, size_gib=row.size,
                                          container=row.container, parent=parent)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    raw.unlink()

        async def done(written: Written) -> None:
            await self._set_backup(backup_id, status="available",
                                   object_count=written.object_count)
            await self._set_volume(row.volume_id, status=back_to)

        async def failed(err: str) -> None:
            if self.backups is not None:
                with contextlib.suppress(BackupError):
                    await self.backups.delete(row.container, backup_id)
            await self._set_backup(backup_id, status="error", fail_reason=err)
            await self._set_volume(row.volume_id, status=back_to)

        await self.outcome(f"backup {backup_id}: create", write(), done=done, failed=failed,
                            expected=(BackendError, BackupError),
                            event=self._event(row, messages.BACKUP, "012", request_id),
                            detail="022")

    async def restore_backup(self, backup_id: str, volume_id: str, *, new: bool,
                             request_id: str = "") -> None:
        """Write the backup into the volume (``new``: create it first, blank)."""
        row = await self._db(lambda s: s.get(m.Backup, backup_id))
        vol = await self._db(lambda s: s.get(m.Volume, volume_id))
        if row is None or vol is None:
            return

        async def write() -> None:
            meta = await self._engine().metadata(row.container, backup_id)
            async with self.lock(volume_id):
                if new:
                    await self.backend.create(volume_id, vol.size)
                exported = await self._is_exported(volume_id)
                path = await self.backend.export_path(volume_id)
                try:
                    await self._engine().restore(meta, path, blank=new)
                finally:
                    if not exported:
                        await self.backend.release_export(volume_id)

        async def done(_: None) -> None:
            await self._set_volume(volume_id, status="available", launched_at=m.utcnow())
            await self._set_backup(backup_id, status="available")

        async def failed(err: str) -> None:
            await self._set_volume(volume_id, status="error_restoring", error=err)
            await self._set_backup(backup_id, status="available")

        await self.outcome(f"backup {backup_id}: restore to {volume_id}", write(),
                            done=done, failed=failed, expected=(BackendError, BackupError),
                            event=self._event(row, messages.BACKUP, "013", request_id),
                            detail="022")

    async def delete_backup(self, backup_id: str) -> None:
        row = await self._db(lambda s: s.get(m.Backup, backup_id))
        if row is None:
            return
        async def remove() -> None:
            await self._engine().delete(row.container, backup_id)

        await self.outcome(
            f"backup {backup_id}: delete", remove(),
            done=lambda _: self._db(functools.partial(_delete_row, m.Backup, backup_id)),
            failed=lambda err: self._set_backup(backup_id, status="error_deleting",
                                                fail_reason=err))

    async def upload_to_image(self, volume_id: str, image: ImageRef, back_to: str, *,
                              project_id: str = "", request_id: str = "") -> None:
        """Copy the volume into the (queued) image; on failure the image is deleted."""
        async def upload() -> None:
            path = self.staging / f"{volume_id}.upload"
            try:
                async with self.lock(volume_id):
                    await self.backend.copy_to_file(volume_id, str(path), image.disk_format)
                with path.open("rb") as fh:
                    try:
                        await image.images.upload(image.image_id, fh)
                    except RemoteError as exc:
                        raise Invalid(f"image upload failed: {exc.message}: "
                                      f"{exc.body[:200]}") from exc
            finally:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

        async def failed(err: str) -> None:
            with contextlib.suppress(RemoteError):
                await image.images.delete(image.image_id)
            await self._set_volume(volume_id, status=back_to, error=err)

        await self.outcome(f"volume {volume_id}: upload to image {image.image_id}", upload(),
                            done=lambda _: self._set_volume(volume_id, status=back_to),
                            failed=failed, expected=(BackendError, Invalid),
                            event=messages.Event(project_id, messages.VOLUME, volume_id, "003",
                                                 request_id), detail="004")


def _delete_row(model: type[m.Base], ident: str, s: Session) -> None:
    row = s.get(model, ident)
    if row is not None:
        s.delete(row)
