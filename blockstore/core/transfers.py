"""Volume transfer rules.

Creating a transfer puts the volume in ``awaiting-transfer`` and answers the
``auth_key`` once (only a salted hash is stored). Another project accepts it
with that key: its quota is checked, the volume (and its snapshots) move to
it and the volume is ``available`` again. A wrong key is 400 and changes
nothing; deleting the transfer cancels it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from blockstore import models as m
from blockstore import quotas
from blockstore.core.volumes import get_volume, touch
from blockstore.errors import Invalid, NotFound
from blockstore.policy import Caller
from common.config import BlockStoreConfig


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


def get_transfer(s: Session, who: Caller, tid: str, *, any_project: bool = False
                 ) -> m.Transfer:
    tr = s.get(m.Transfer, tid)
    if tr is None or not (any_project or who.owns(tr.project_id)):
        raise NotFound(f"Transfer {tid} could not be found.")
    return tr


def new_key() -> str:
    """A transfer's ``auth_key``, shown once to its creator."""
    return secrets.token_hex(8)


def create(s: Session, who: Caller, vid: str, name: str | None, no_snapshots: bool,
           key: str) -> m.Transfer:
    vol = get_volume(s, who, vid)
    if vol.status != "available":
        raise Invalid(f"Invalid volume: Status of volume {vid} must be available to "
                      f"transfer (it is {vol.status}).")
    salt = secrets.token_hex(8)
    tr = m.Transfer(id=m.new_id(), volume_id=vid, project_id=vol.project_id, name=name,
                    salt=salt, crypt_hash=_hash(salt, key), no_snapshots=no_snapshots)
    s.add(tr)
    touch(vol, status="awaiting-transfer")
    s.flush()
    return tr


def accept(s: Session, who: Caller, cfg: BlockStoreConfig, tid: str, key: str
           ) -> tuple[m.Transfer, m.Volume]:
    """Move the volume (and its snapshots) to the caller's project; the transfer (gone
    once the transaction commits) and the volume."""
    tr = get_transfer(s, who, tid, any_project=True)
    if not hmac.compare_digest(_hash(tr.salt, key), tr.crypt_hash):
        raise Invalid(f"Invalid auth key: Attempt to transfer {tid} with invalid auth key.")
    vol = s.get(m.Volume, tr.volume_id)
    if vol is None:
        raise NotFound(f"Volume {tr.volume_id} could not be found.")
    if vol.status != "awaiting-transfer":
        raise Invalid(f"Invalid volume: Transfer {tid} failed: volume status is "
                      f"{vol.status}.")
    new_project = who.project_id or ""
    snaps = [] if tr.no_snapshots else list(s.scalars(select(m.Snapshot).where(
        m.Snapshot.volume_id == vol.id)))
    if tr.no_snapshots and s.scalar(select(m.Snapshot.id).where(
            m.Snapshot.volume_id == vol.id)) is not None:
        raise Invalid("Invalid volume: a volume with snapshots transfers with them.")
    if new_project != vol.project_id:
        vt = s.get(m.VolumeType, vol.volume_type_id) if vol.volume_type_id else None
        quotas.check(s, cfg, new_project, quotas.Delta(
            volumes=1, snapshots=len(snaps), gigabytes=vol.size + sum(sn.size for sn in snaps),
            volume_type=vt.name if vt else None, volume_size=vol.size))
    vol.project_id, vol.user_id = new_project, who.user_id
    for sn in snaps:
        sn.project_id, sn.user_id = new_project, who.user_id
    touch(vol, status="available")
    s.delete(tr)
    return tr, vol


def cancel(s: Session, who: Caller, tid: str) -> None:
    tr = get_transfer(s, who, tid)
    vol = s.get(m.Volume, tr.volume_id)
    if vol is not None and vol.status == "awaiting-transfer":
        touch(vol, status="available")
    s.delete(tr)


def transfers(s: Session, who: Caller, *, everyone: bool,
              order: list[Any] | None = None) -> list[m.Transfer]:
    stmt = select(m.Transfer).order_by(*(order or [m.Transfer.created_at]), m.Transfer.id)
    if not everyone:
        stmt = stmt.where(m.Transfer.project_id == (who.project_id or ""))
    return list(s.scalars(stmt))
