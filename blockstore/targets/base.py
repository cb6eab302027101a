"""The iSCSI target driver contract, shared by every implementation.

A *target driver* publishes a volume's backing file (or block device) over
iSCSI so that an initiator (a hypervisor, ``qemu``'s ``iscsi://`` driver,
libiscsi's tools) can reach it. Each exported volume gets its own target,
``iqn.2010-10.org.openstack:volume-<volume id>``, with exactly one LUN backed
by the volume's path; every target is CHAP-protected (the initiator must log
in with the volume's ``chap_user`` / ``chap_password``), and when initiator
IQNs are given only those initiators may log in at all.

Contract (every implementation passes ``tests/functional/blockstore/
test_targets_contract.py``):

``name``
    Short driver name (``"tgt"``, ``"lio"``).
``await ensure_export(volume_id, path, *, chap_user, chap_password, initiators=())``
    Idempotent and convergent: creates what is missing and corrects what
    differs (backing path, CHAP credentials, ACL), then returns the
    :class:`Export`. ``path`` must be a *raw* image (regular file or block
    device): the target serves its bytes as they are. An empty
    ``initiators`` means "any initiator that knows the CHAP secret".
``await remove_export(volume_id)``
    Idempotent: removing what is not exported is not an error.
``await list_exports()``
    Volume ids exported right now (targets of other software are ignored).
``await resize(volume_id)``
    The backing file grew (or shrank): make the LUN report the new size.
    :class:`TargetError` when the volume is not exported; :class:`TargetBusy`
    while an initiator is logged in to the target, when the driver can only
    re-read the size by re-creating the LUN (commands reaching it in between
    would fail): the caller tries again once the sessions are gone.
``await restore(specs)``
    Re-create every export in ``specs`` (after the target daemon or the host
    restarted and lost its state; the volume manager keeps the specs in its
    database). Tries all of them; raises :class:`RestoreError` listing the
    failures, after the others were restored.
``connection_info(volume_id, export)``
    The dictionary Cinder's ``initialize_connection`` returns for iSCSI.

Errors are :class:`TargetError` (bad input included); none of this imports HTTP.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from common import subprocesses
from common.subprocesses import CommandResult as CommandResult  # the drivers use it from here

IQN_PREFIX = "iqn.2010-10.org.openstack:"
VOLUME_PREFIX = "volume-"

# Volume ids become part of an IQN, which is lowercase ASCII letters, digits, '.', '-' and ':'.
_VOLUME_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,199}$")
# Initiator names: iqn./eui./naa. forms (RFC 3720 3.2.6.3); no whitespace or control characters.
_INITIATOR = re.compile(
    r"^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$")
# CHAP names and secrets travel as tgtadm arguments and appear in its show output and in
# iscsi:// URLs: printable ASCII without whitespace, '%', '@', '/' or ':' (URL delimiters).
_CHAP = re.compile(r"^[!-~]{1,255}$")
_CHAP_FORBIDDEN = frozenset("%@/:")


class TargetError(Exception):
    """A target operation failed or was given bad input; the message says why."""


class TargetBusy(TargetError):
    """The operation would fail the commands of an initiator logged in now; retry
    after it logs out."""


class RestoreError(TargetError):
    """Some exports could not be restored; the others were."""

    def __init__(self, restored: dict[str, Export], failures: dict[str, TargetError]) -> None:
        self.restored = restored
        self.failures = failures
        detail = "; ".join(f"{vid}: {err}" for vid, err in sorted(failures.items()))
        super().__init__(f"{len(failures)} export(s) not restored: {detail}")


@dataclass(frozen=True)
class Connector:
    """The subset of Cinder's connector properties a target driver uses."""

    initiator: str | None = None  # the initiator's IQN, e.g. iqn.1994-05.com.redhat:abc
    ip: str | None = None  # the initiator host's address (informational)

    def initiators(self) -> tuple[str, ...]:
        """The ACL to export with for this connector: its IQN, or () (open, CHAP only)."""
        return (self.initiator,) if self.initiator else ()


@dataclass(frozen=True)
class Export:
    """Where and how an exported volume is reached."""

    target_iqn: str
    portal: str  # "address:port" (IPv6 as "[addr]:port")
    lun: int
    auth_method: str  # always "CHAP"
    auth_username: str
    auth_password: str


@dataclass(frozen=True)
class ExportSpec:
    """Everything needed to (re-)create one export; what the volume manager stores."""

    volume_id: str
    path: str
    chap_user: str
    chap_password: str
    initiators: tuple[str, ...] = field(default=())


@runtime_checkable
class TargetDriver(Protocol):
    """See the module docstring for the semantics of each method."""

    name: str

    async def ensure_export(self, volume_id: str, path: str, *, chap_user: str,
                            chap_password: str, initiators: Sequence[str] = ()) -> Export: ...

    async def remove_export(self, volume_id: str) -> None: ...

    async def list_exports(self) -> list[str]: ...

    async def resize(self, volume_id: str) -> None: ...

    async def restore(self, specs: Iterable[ExportSpec]) -> dict[str, Export]: ...

    def connection_info(self, volume_id: str, export: Export) -> dict[str, object]: ...


def target_iqn(volume_id: str) -> str:
    """The target name of a volume."""
    return f"{IQN_PREFIX}{VOLUME_PREFIX}{volume_id}"


def volume_id_of(iqn: str) -> str | None:
    """The volume id inside one of our target names, or None for anybody else's target."""
    prefix = IQN_PREFIX + VOLUME_PREFIX
    return iqn[len(prefix):] if iqn.startswith(prefix) and len(iqn) > len(prefix) else None


def check_volume_id(volume_id: str) -> None:
    if not isinstance(volume_id, str) or not _VOLUME_ID.match(volume_id):
        raise TargetError(f"invalid volume id {volume_id!r}: lowercase letters, digits, "
                          "'.' and '-' only (at most 200)")


def check_export_args(volume_id: str, path: str, chap_user: str, chap_password: str,
                      initiators: Sequence[str]) -> tuple[str, ...]:
    """Validate ensure_export's arguments; return the initiators as a sorted, unique tuple."""
    check_volume_id(volume_id)
    for what, value in (("CHAP user", chap_user), ("CHAP password", chap_password)):
        if (not isinstance(value, str) or not _CHAP.match(value)
                or _CHAP_FORBIDDEN.intersection(value)):
            raise TargetError(f"invalid {what}: 1-255 printable ASCII characters without "
                              "whitespace or any of % @ / :")
    if isinstance(initiators, str):
        raise TargetError("initiators must be a sequence of IQNs, not one string")
    for name in initiators:
        if not isinstance(name, str) or not _INITIATOR.match(name):
            raise TargetError(f"invalid initiator name {name!r}")
    if not isinstance(path, str) or not os.path.isabs(path):
        raise TargetError(f"backing path must be absolute: {path!r}")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise TargetError(f"backing path {path}: {exc.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
        raise TargetError(f"backing path {path} is not a regular file or block device")
    return tuple(sorted(set(initiators)))


def format_portal(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def cinder_connection_info(volume_id: str, export: Export) -> dict[str, object]:
    """Cinder's iSCSI connection info for one export."""
    return {
        "driver_volume_type": "iscsi",
        "data": {
            "target_discovered": False,
            "target_iqn": export.target_iqn,
            "target_portal": export.portal,
            "target_lun": export.lun,
            "volume_id": volume_id,
            "auth_method": export.auth_method,
            "auth_username": export.auth_username,
            "auth_password": export.auth_password,
            "discard": True,
            "access_mode": "rw",
            "encrypted": False,
        },
    }


async def restore_all(driver: TargetDriver, specs: Iterable[ExportSpec]) -> dict[str, Export]:
    """ensure_export every spec, one at a time; raise RestoreError after trying all."""
    restored: dict[str, Export] = {}
    failures: dict[str, TargetError] = {}
    for spec in specs:
        try:
            restored[spec.volume_id] = await driver.ensure_export(
                spec.volume_id, spec.path, chap_user=spec.chap_user,
                chap_password=spec.chap_password, initiators=spec.initiators)
        except TargetError as exc:
            failures[spec.volume_id] = exc
    if failures:
        raise RestoreError(restored, failures)
    return restored


async def run_command(argv: Sequence[str], time_limit: float = 60.0) -> CommandResult:
    """Run a program without a shell; TargetError if it cannot start or overruns
    ``time_limit`` seconds (it is killed then)."""
    return await subprocesses.run_command(argv, time_limit, error=TargetError)
