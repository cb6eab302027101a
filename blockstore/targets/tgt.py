"""iSCSI targets served by tgt, the Linux SCSI target framework in userspace.

``TgtDriver`` implements :mod:`blockstore.targets.base`'s contract by running
``tgtadm --lld iscsi`` against one ``tgtd``, chosen by its *control port*
(tgtd's ``-C N`` names its management socket ``/var/run/tgtd/socket.N``, so
several tgtd processes, e.g. one per Strata instance or per test, never
see each other's targets).

How the contract maps onto tgt:

- one target per volume, ``tid`` allocated by the driver (one past the
  highest in use, retried when another tgtadm client raced us);
- LUN 1 is the volume (tgt reserves LUN 0 for its controller);
- CHAP: an *incoming account* named ``chap_user``. tgt's accounts are
  global to the daemon, so one user name cannot have two passwords: a name
  already bound to another volume's target is refused;
- ACL: ``ALL`` (any initiator address; CHAP still required) when no
  initiators are given, otherwise only the initiator names;
- resize: tgt reads a file's size when the LUN is added, so the LUN is
  deleted and added again (open sessions survive this and see the new size);
- all state lives in tgtd's memory: after tgtd restarts, ``restore`` puts it
  back from the volume manager's list.

``TgtDaemon`` starts and stops a private ``tgtd -f`` listening on one portal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from blockstore.targets.base import (
    CommandResult,
    Export,
    ExportSpec,
    TargetBusy,
    TargetError,
    check_export_args,
    check_volume_id,
    cinder_connection_info,
    format_portal,
    restore_all,
    run_command,
    target_iqn,
    volume_id_of,
)

TGTADM = "tgtadm"
TGTD = "tgtd"
TGTD_SOCKET_DIR = Path("/var/run/tgtd")  # tgtd's management socket: socket.<control port>
MAX_CONTROL_PORT = 32767  # tgtd refuses larger -C values (ERANGE)
VOLUME_LUN = 1  # LUN 0 is tgt's controller
ALL_ADDRESSES = "ALL"
_NAME_ACL = ("iqn.", "eui.", "naa.")
_TARGET_LINE = re.compile(r"^Target (\d+): (\S+)\s*$")
_EXISTS = "already exists"

# iSCSI session parameters set on every new target. tgt's defaults (8 KiB data segments,
# InitialR2T=Yes, 256 KiB bursts) make a 1 MiB write wait for several R2T round trips;
# these let an initiator send it in one unsolicited burst plus one R2T, which more than
# doubles sequential write throughput (bench/iscsi_bench.py). Initiators negotiate down.
SESSION_PARAMS: Mapping[str, str] = {
    "MaxRecvDataSegmentLength": "262144",
    "MaxXmitDataSegmentLength": "262144",
    "InitialR2T": "No",
    "ImmediateData": "Yes",
    "FirstBurstLength": "262144",
    "MaxBurstLength": "16776192",
}


# tgtd mallocs each command's data buffer (1 MiB for a 1 MiB write) and frees it when
# the command ends. glibc serves allocations that large with a fresh mmap, so every
# command page-faulted in and zeroed a new megabyte, then unmapped it: a fifth of tgtd's
# time in a write run. Serving them from the heap and keeping freed memory there lets
# buffers be reused (sequential write +40%, read +60% in bench/iscsi_bench.py).
# With O_DIRECT the kernel pins each buffer's pages for every command and copies the
# socket's bytes into them: ``glibc.malloc.hugetlb=1`` has malloc ask for transparent
# huge pages (madvise), so that is one 2 MiB page instead of 256 small ones (sequential
# write a further +25-45%, read about doubled). Where THP is off it changes nothing.
TGTD_MALLOC_ENV: Mapping[str, str] = {
    "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
    "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
}


def tgtd_environ(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with :data:`TGTD_MALLOC_ENV` added (glibc tunables already set are kept)."""
    env = {**base, **TGTD_MALLOC_ENV}
    if base.get("GLIBC_TUNABLES"):
        env["GLIBC_TUNABLES"] = f"{base['GLIBC_TUNABLES']}:{TGTD_MALLOC_ENV['GLIBC_TUNABLES']}"
    return env


@dataclass
class TgtLun:
    lun: int
    path: str | None  # None for the controller
    size_mb: int


@dataclass
class TgtTarget:
    """One target as ``tgtadm --mode target --op show`` reports it."""

    tid: int
    iqn: str
    luns: dict[int, TgtLun] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)  # incoming
    outgoing: list[str] = field(default_factory=list)
    acl: list[str] = field(default_factory=list)
    sessions: int = 0


def parse_show(text: str) -> dict[str, TgtTarget]:
    """Parse ``tgtadm --lld iscsi --mode target --op show`` into targets keyed by IQN."""
    targets: dict[str, TgtTarget] = {}
    current: TgtTarget | None = None
    section = ""
    lun: TgtLun | None = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            match = _TARGET_LINE.match(raw)
            if match is None:
                raise TargetError(f"unexpected tgtadm output line: {raw!r}")
            current = TgtTarget(int(match.group(1)), match.group(2))
            targets[current.iqn] = current
            section, lun = "", None
            continue
        if current is None:
            raise TargetError(f"unexpected tgtadm output line: {raw!r}")
        if indent == 4:
            section, lun = line.rstrip(":"), None
            continue
        if section == "LUN information":
            if indent == 8 and line.startswith("LUN:"):
                lun = TgtLun(int(line.split(":", 1)[1]), None, 0)
                current.luns[lun.lun] = lun
            elif lun is not None and line.startswith("Backing store path:"):
                path = line.split(":", 1)[1].strip()
                lun.path = None if path in ("", "None") else path
            elif lun is not None and line.startswith("Size:"):
                size = line.split(":", 1)[1].split(",")[0].split()
                lun.size_mb = int(size[0]) if size and size[0].isdigit() else 0
        elif section == "Account information" and indent == 8:
            if line.endswith(" (outgoing)"):
                current.outgoing.append(line.removesuffix(" (outgoing)"))
            else:
                current.accounts.append(line)
        elif section == "ACL information" and indent == 8:
            current.acl.append(line)
        elif section == "I_T nexus information" and indent == 8 and line.startswith("I_T nexus:"):
            current.sessions += 1
    return targets


class TgtDriver:
    """The tgt target driver; see the module docstring."""

    name = "tgt"

    def __init__(self, *, portal_address: str = "127.0.0.1", portal_port: int = 3260,
                 control_port: int | None = None, tgtadm: str = TGTADM,
                 timeout: float = 30.0,
                 session_params: Mapping[str, str] = SESSION_PARAMS,
                 direct_io: bool = True) -> None:
        """``portal_*``: the address initiators reach tgtd on (reported in exports).
        ``control_port``: tgtd's ``-C`` (None: the default daemon). ``session_params``:
        iSCSI login parameters set on each new target (tgtadm ``--op update``).
        ``direct_io``: tgtd opens backing files with O_DIRECT where their file system
        allows it (see ``takes_direct_io``)."""
        self.portal = format_portal(portal_address, portal_port)
        self.control_port = control_port
        self._tgtadm_bin = tgtadm
        self._timeout = timeout
        self._session_params = dict(session_params)
        self._direct_io = direct_io
        self._lock = asyncio.Lock()  # one mutation at a time: tid allocation, account reuse
        self._passwords: dict[str, str] = {}  # CHAP user -> password this driver last set

    # ---- tgtadm plumbing

    async def _tgtadm(self, *args: str) -> CommandResult:
        argv = [self._tgtadm_bin]
        if self.control_port is not None:
            argv += ["-C", str(self.control_port)]
        argv += ["--lld", "iscsi", *args]
        return await run_command(argv, self._timeout)

    async def _must(self, *args: str, ok_if: str | None = None) -> CommandResult:
        result = await self._tgtadm(*args)
        if result.returncode != 0 and not (ok_if and ok_if in result.stderr):
            raise TargetError(f"tgtadm {' '.join(_redact(args))} failed "
                              f"({result.returncode}): {result.stderr.strip()}")
        return result

    async def _show(self) -> dict[str, TgtTarget]:
        result = await self._must("--mode", "target", "--op", "show")
        return parse_show(result.stdout)

    # ---- the contract

    async def ensure_export(self, volume_id: str, path: str, *, chap_user: str,
                            chap_password: str, initiators: Sequence[str] = ()) -> Export:
        wanted_acl = check_export_args(volume_id, path, chap_user, chap_password, initiators)
        iqn = target_iqn(volume_id)
        async with self._lock:
            targets = await self._show()
            for other in targets.values():
                if other.iqn != iqn and chap_user in other.accounts:
                    raise TargetError(f"CHAP user {chap_user!r} is already used by target "
                                      f"{other.iqn}; tgt accounts are global, use another name")
            target = targets.get(iqn)
            if target is None:
                target = await self._new_target(iqn, targets)
            await self._converge_lun(target, path)
            await self._converge_account(target, chap_user, chap_password, targets)
            await self._converge_acl(target, wanted_acl or (ALL_ADDRESSES,))
        return Export(target_iqn=iqn, portal=self.portal, lun=VOLUME_LUN, auth_method="CHAP",
                      auth_username=chap_user, auth_password=chap_password)

    async def remove_export(self, volume_id: str) -> None:
        check_volume_id(volume_id)
        iqn = target_iqn(volume_id)
        async with self._lock:
            targets = await self._show()
            target = targets.get(iqn)
            if target is None:
                return
            await self._must("--mode", "target", "--op", "delete", "--force",
                             "--tid", str(target.tid), ok_if="can't find the target")
            for user in target.accounts:
                if not any(user in t.accounts for t in targets.values() if t.iqn != iqn):
                    await self._delete_account(user)

    async def list_exports(self) -> list[str]:
        targets = await self._show()
        return sorted(vid for vid in map(volume_id_of, targets) if vid is not None)

    async def resize(self, volume_id: str) -> None:
        check_volume_id(volume_id)
        iqn = target_iqn(volume_id)
        async with self._lock:
            target = (await self._show()).get(iqn)
            lun = target.luns.get(VOLUME_LUN) if target else None
            if target is None or lun is None or lun.path is None:
                raise TargetError(f"volume {volume_id} is not exported")
            if target.sessions:
                # tgt reads the size when a LUN is added; between its delete and its
                # re-add a session's commands fail (LOGICAL UNIT NOT SUPPORTED)
                raise TargetBusy(f"volume {volume_id}: {target.sessions} initiator "
                                 "session(s) logged in; the LUN keeps its old size until "
                                 "they log out")
            await self._replace_lun(target.tid, lun.path)

    async def restore(self, specs: Iterable[ExportSpec]) -> dict[str, Export]:
        return await restore_all(self, specs)

    def connection_info(self, volume_id: str, export: Export) -> dict[str, object]:
        return cinder_connection_info(volume_id, export)

    # ---- convergence steps (called with the lock held)

    async def _new_target(self, iqn: str, targets: dict[str, TgtTarget]) -> TgtTarget:
        for _ in range(5):
            tid = max((t.tid for t in targets.values()), default=0) + 1
            result = await self._tgtadm("--mode", "target", "--op", "new", "--tid", str(tid),
                                        "--targetname", iqn)
            if result.returncode == 0:
                try:
                    for name, value in self._session_params.items():
                        await self._must("--mode", "target", "--op", "update", "--tid",
                                         str(tid), "--name", name, "--value", value)
                except TargetError:  # do not leave a half-made target behind
                    await self._tgtadm("--mode", "target", "--op", "delete", "--force",
                                       "--tid", str(tid))
                    raise
                return TgtTarget(tid, iqn)
            if _EXISTS not in result.stderr:
                raise TargetError(f"tgtadm cannot create target {iqn}: {result.stderr.strip()}")
            # Another client took that tid (or made this very target): look again.
            targets = await self._show()
            if iqn in targets:
                return targets[iqn]
        raise TargetError(f"no free target id for {iqn} after 5 attempts")

    async def _add_lun(self, tid: int, path: str) -> None:
        result = await self._tgtadm("--mode", "logicalunit", "--op", "new", "--tid", str(tid),
                                    "--lun", str(VOLUME_LUN), "--backing-store", path,
                                    *(("--bsoflags", "direct")
                                      if self._direct_io and takes_direct_io(path) else ()))
        if result.returncode != 0:
            raise TargetError(f"tgtadm cannot add {path} as LUN {VOLUME_LUN} of target {tid}: "
                              f"{result.stderr.strip()}")

    async def _replace_lun(self, tid: int, path: str) -> None:
        await self._must("--mode", "logicalunit", "--op", "delete", "--tid", str(tid),
                         "--lun", str(VOLUME_LUN), ok_if="can't find the logical unit")
        await self._add_lun(tid, path)

    async def _converge_lun(self, target: TgtTarget, path: str) -> None:
        lun = target.luns.get(VOLUME_LUN)
        if lun is None:
            await self._add_lun(target.tid, path)
        elif lun.path != path:
            await self._replace_lun(target.tid, path)

    async def _converge_account(self, target: TgtTarget, user: str, password: str,
                                targets: dict[str, TgtTarget]) -> None:
        for old in target.accounts:
            if old != user:
                # Best effort: deleting the account below unbinds it anyway.
                await self._tgtadm("--mode", "account", "--op", "unbind", "--tid",
                                   str(target.tid), "--user", old)
                if not any(old in t.accounts for t in targets.values() if t.iqn != target.iqn):
                    await self._delete_account(old)
        if user in target.accounts and self._passwords.get(user) == password:
            return
        # The password of an existing account cannot be read back: set it afresh.
        # (Deleting an account also unbinds it; sessions already logged in stay up.)
        await self._delete_account(user)
        await self._must("--mode", "account", "--op", "new", "--user", user,
                         "--password", password)
        self._passwords[user] = password
        await self._must("--mode", "account", "--op", "bind", "--tid", str(target.tid),
                         "--user", user, ok_if=_EXISTS)

    async def _delete_account(self, user: str) -> None:
        await self._must("--mode", "account", "--op", "delete", "--user", user,
                         ok_if="can't find the account")
        self._passwords.pop(user, None)

    async def _converge_acl(self, target: TgtTarget, wanted: Sequence[str]) -> None:
        for rule in wanted:
            if rule not in target.acl:
                await self._must("--mode", "target", "--op", "bind", "--tid", str(target.tid),
                                 *_acl_args(rule), ok_if=_EXISTS)
        for rule in target.acl:
            if rule not in wanted:
                await self._must("--mode", "target", "--op", "unbind", "--tid",
                                 str(target.tid), *_acl_args(rule), ok_if="does not exist")


def _acl_args(rule: str) -> tuple[str, str]:
    if rule.startswith(_NAME_ACL):
        return ("--initiator-name", rule)
    return ("--initiator-address", rule)


def takes_direct_io(path: str) -> bool:
    """Whether ``path`` can be opened with O_DIRECT (tmpfs and memfd files cannot).

    tgtd's rdwr backing store writes through the page cache by default: every write
    is copied once more, and its I/O threads queue on the file's lock. With O_DIRECT
    the data goes from tgtd's buffer straight to the file system (or, for a file
    backend volume, to the FUSE view, whose daemon keeps its own cache), which took
    sequential iSCSI writes from 0.4x to 0.7x of the disk's own rate
    (bench/iscsi_bench.py). It also means a write is on the device when acknowledged.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError:
        return False
    os.close(fd)
    return True


def _redact(args: Sequence[str]) -> list[str]:
    """tgtadm arguments for an error message, without the CHAP password."""
    out = list(args)
    for i, arg in enumerate(out[:-1]):
        if arg == "--password":
            out[i + 1] = "***"
    return out


class TgtDaemon:
    """A private ``tgtd`` in the foreground: one portal, its own control port
    (1-32767; by default the portal port, which is then unique on this host).

    ``start`` waits until tgtadm answers and the portal accepts connections;
    ``stop`` asks tgtd to exit (dropping every target) and kills it if it
    does not; ``kill`` is SIGKILL, as a crash would be.
    """

    def __init__(self, *, portal_address: str = "127.0.0.1", portal_port: int = 3260,
                 control_port: int | None = None, log_path: Path | None = None,
                 tgtd: str = TGTD, tgtadm: str = TGTADM, io_threads: int | None = None) -> None:
        self.portal_address = portal_address
        self.portal_port = portal_port
        self.control_port = control_port if control_port is not None else portal_port
        if not 0 < self.control_port <= MAX_CONTROL_PORT:
            raise TargetError(f"tgtd control port {self.control_port} out of range 1-"
                              f"{MAX_CONTROL_PORT}" + ("" if control_port is not None else
                                                       " (it defaults to the portal port)"))
        self.log_path = log_path
        self._tgtd = tgtd
        self._tgtadm = tgtadm
        self._io_threads = io_threads
        self._proc: asyncio.subprocess.Process | None = None
        self._serving = False  # our tgtd came up, so the control socket files are ours

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def driver(self, timeout: float = 30.0) -> TgtDriver:
        """A TgtDriver talking to this daemon."""
        return TgtDriver(portal_address=self.portal_address, portal_port=self.portal_port,
                         control_port=self.control_port, tgtadm=self._tgtadm, timeout=timeout)

    async def start(self, within: float = 15.0) -> None:
        if self.pid is not None:
            raise TargetError(f"tgtd already running (pid {self.pid})")
        portal = format_portal(self.portal_address, self.portal_port)
        argv = [self._tgtd, "-f", "-C", str(self.control_port)]
        if self._io_threads is not None:
            argv += ["-t", str(self._io_threads)]
        argv += ["--iscsi", f"portal={portal}"]
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: ASYNC230
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=log or asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True, env=tgtd_environ(os.environ))
        except OSError as exc:
            raise TargetError(f"cannot run {self._tgtd}: {exc.strerror}") from None
        finally:
            if log is not None:
                log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self._proc.returncode is not None:
                raise TargetError(f"tgtd exited with status {self._proc.returncode} at start "
                                  f"(control port {self.control_port} or portal {portal} "
                                  "busy?)" + (f"; see {self.log_path}" if self.log_path else ""))
            if await self._answers() and await self._portal_open():
                self._serving = True
                return
            if loop.time() > deadline:
                await self.kill()
                raise TargetError(f"tgtd did not come up within {within:g}s")
            await asyncio.sleep(0.05)

    async def _answers(self) -> bool:
        result = await run_command([self._tgtadm, "-C", str(self.control_port), "--lld", "iscsi",
                                    "--mode", "target", "--op", "show"], 10.0)
        return result.returncode == 0

    async def _portal_open(self) -> bool:
        family = socket.AF_INET6 if ":" in self.portal_address else socket.AF_INET
        try:
            _, writer = await asyncio.open_connection(
                self.portal_address, self.portal_port, family=family)
        except OSError:
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def stop(self, grace: float = 10.0) -> None:
        """Delete every target and ask tgtd to exit; SIGKILL after ``grace`` seconds."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            self._forget_socket()  # it died by itself
            return
        base = [self._tgtadm, "-C", str(self.control_port)]
        with contextlib.suppress(TargetError):
            listing = await run_command([*base, "--lld", "iscsi", "--mode", "target",
                                         "--op", "show"], 10.0)
            for target in parse_show(listing.stdout).values():
                await run_command([*base, "--lld", "iscsi", "--mode", "target", "--op",
                                   "delete", "--force", "--tid", str(target.tid)], 10.0)
            await run_command([*base, "--mode", "system", "--op", "delete"], 10.0)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            await self.kill()
        self._forget_socket()

    async def kill(self) -> None:
        """SIGKILL tgtd, as a crash would; every target is lost."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            self._forget_socket()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        self._forget_socket()

    def _forget_socket(self) -> None:
        """tgtd leaves its socket and lock files behind when it exits: remove them,
        unless another tgtd took this control port meanwhile (it holds the lock file's
        POSIX lock, as tgtd uses ``lockf``), whose files they now are."""
        if not self._serving:
            return
        self._serving = False
        sock = TGTD_SOCKET_DIR / f"socket.{self.control_port}"
        lock = TGTD_SOCKET_DIR / f"socket.{self.control_port}.lock"
        try:
            fd = os.open(lock, os.O_WRONLY)
        except FileNotFoundError:
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1)
        except OSError:
            os.close(fd)
            return  # a live tgtd owns them
        try:
            for path in (sock, lock):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        finally:
            os.close(fd)
