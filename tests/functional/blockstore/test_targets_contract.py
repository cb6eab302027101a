"""The iSCSI target driver contract, run against every driver with real clients.

Each test runs once per driver: ``tgt`` against a private ``tgtd`` on a free
loopback port, and ``lio`` against the kernel target through configfs. Where
configfs is missing (as on these machines) the LIO run skips with the reason.

The clients are the real ones an initiator would use: libiscsi's
``iscsi-ls`` / ``iscsi-readcapacity16`` and QEMU's ``iscsi`` block driver
(``qemu-io``), always logging in with an explicit initiator name and CHAP.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from blockstore.targets import (
    Connector,
    Export,
    ExportSpec,
    LioDriver,
    RestoreError,
    TargetBusy,
    TargetDriver,
    TargetError,
    TgtDaemon,
    lio_unavailable_reason,
    target_iqn,
)
from tests.conftest import free_port
from tests.functional.blockstore.volume_server import iscsi_image_opts

MiB = 1 << 20
GOOD_INITIATOR = "iqn.1994-05.org.strata:good-host"
BAD_INITIATOR = "iqn.1994-05.org.strata:other-host"


# ---------------------------------------------------------------- real clients


@dataclass(frozen=True)
class Run:
    rc: int
    out: str
    err: str


async def run(*argv: str, time_limit: float = 60.0) -> Run:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), time_limit)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def portal_url(portal: str, user: str | None, password: str | None) -> str:
    cred = f"{user}%{password}@" if user is not None else ""
    return f"iscsi://{cred}{portal}"


async def iscsi_ls(portal: str, user: str | None, password: str | None,
                   initiator: str = GOOD_INITIATOR) -> Run:
    """``iscsi-ls -s``: discovery, then a login to each target to list its LUNs."""
    return await run("iscsi-ls", "-s", "-i", initiator, portal_url(portal, user, password))


async def read_capacity(export: Export, initiator: str = GOOD_INITIATOR) -> int:
    url = (portal_url(export.portal, export.auth_username, export.auth_password)
           + f"/{export.target_iqn}/{export.lun}")
    r = await run("iscsi-readcapacity16", "-s", "-i", initiator, url)
    assert r.rc == 0, r.err + r.out
    return int(r.out.strip())


def image_opts(export: Export, *, password: str | None = None,
               initiator: str = GOOD_INITIATOR) -> str:
    """QEMU's raw-over-iscsi block options for an export (qemu's own initiator)."""
    return iscsi_image_opts(export.portal, export.target_iqn, export.lun,
                            export.auth_username,
                            password if password is not None else export.auth_password,
                            initiator)


async def qemu_io(export: Export, *commands: str, password: str | None = None,
                  initiator: str = GOOD_INITIATOR) -> Run:
    argv = ["qemu-io"]
    for command in commands:
        argv += ["-c", command]
    argv += ["--image-opts", image_opts(export, password=password, initiator=initiator)]
    return await run(*argv)


def assert_io_ok(r: Run) -> None:
    assert r.rc == 0 and "Pattern verification failed" not in r.out + r.err, r.out + r.err


def assert_login_refused(r: Run, reason: str = "") -> None:
    """qemu-io could not open the LUN (no login), for ``reason`` when given."""
    assert r.rc != 0, f"login should have been refused: {r.out}{r.err}"
    assert "can't open" in r.err and "iSCSI" in r.err, r.err
    assert reason in r.err, r.err


def file_bytes(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


# ---------------------------------------------------------------- harness


@dataclass
class Harness:
    """One driver under test, plus what the suite needs around it."""

    driver: TargetDriver
    tmp: Path
    restart: Callable[[], Awaitable[None]]  # lose every export, as a daemon/host restart does
    backend_iqns: Callable[[], Awaitable[set[str]]]  # target names as the target itself lists
    volumes: list[str] = field(default_factory=list)

    def new_volume(self, size: int = 64 * MiB) -> tuple[str, Path]:
        vid = str(uuid.uuid4())
        path = self.tmp / f"volume-{vid}"
        with path.open("wb") as f:
            f.truncate(size)
        self.volumes.append(vid)
        return vid, path

    async def export(self, vid: str, path: Path, initiators: tuple[str, ...] = (),
                     password: str | None = None) -> Export:
        return await self.driver.ensure_export(
            vid, str(path), chap_user=f"u{vid[:8]}", chap_password=password or f"p{vid[-12:]}",
            initiators=initiators)


async def _tgt_harness(tmp: Path) -> AsyncGenerator[Harness, None]:
    port = free_port()
    daemon = TgtDaemon(portal_address="127.0.0.1", portal_port=port,
                       log_path=tmp / "tgtd.log")
    await daemon.start()
    driver = daemon.driver()

    async def restart() -> None:
        await daemon.kill()
        await daemon.start()

    async def backend_iqns() -> set[str]:
        r = await run("tgtadm", "-C", str(daemon.control_port), "--lld", "iscsi",
                      "--mode", "target", "--op", "show")
        assert r.rc == 0, r.err
        return {line.split(": ", 1)[1].strip() for line in r.out.splitlines()
                if line.startswith("Target ")}

    try:
        yield Harness(driver, tmp, restart, backend_iqns)
    finally:
        await daemon.stop()


async def _lio_harness(tmp: Path) -> AsyncGenerator[Harness, None]:
    driver = LioDriver(portal_address="127.0.0.1", portal_port=free_port())

    async def backend_iqns() -> set[str]:
        root = Path("/sys/kernel/config/target/iscsi")
        return {p.name for p in root.iterdir() if p.name.startswith("iqn.")}

    harness = Harness(driver, tmp, lambda: asyncio.sleep(0), backend_iqns)

    async def restart() -> None:  # a reboot empties configfs: drop this suite's targets
        for vid in harness.volumes:
            await driver.remove_export(vid)

    harness.restart = restart
    try:
        yield harness
    finally:
        for vid in harness.volumes:  # never touch targets this suite did not make
            await driver.remove_export(vid)


@pytest.fixture(params=["tgt", "lio"])
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "lio":
        reason = lio_unavailable_reason()
        if reason:
            pytest.skip(reason)
        if os.geteuid() != 0:
            pytest.skip("LIO needs root")
        gen = _lio_harness(tmp_path)
    else:
        gen = _tgt_harness(tmp_path)
    harness = await gen.__anext__()
    try:
        yield harness
    finally:
        await gen.aclose()


# ---------------------------------------------------------------- the contract


async def test_export_is_visible_with_chap(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path)
    assert export.target_iqn == f"iqn.2010-10.org.openstack:volume-{vid}" == target_iqn(vid)
    assert export.portal == h.driver.connection_info(vid, export)["data"]["target_portal"]  # type: ignore[index]
    assert export.auth_method == "CHAP"
    assert await h.driver.list_exports() == [vid]

    listing = await iscsi_ls(export.portal, export.auth_username, export.auth_password)
    assert listing.rc == 0, listing.err
    assert f"Target:{export.target_iqn} Portal:" in listing.out
    assert f"Lun:{export.lun} " in listing.out and "DIRECT_ACCESS" in listing.out
    assert await read_capacity(export) == 64 * MiB


async def test_connection_info_has_cinders_shape(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path, initiators=Connector(initiator=GOOD_INITIATOR).initiators())
    info = h.driver.connection_info(vid, export)
    assert info == {
        "driver_volume_type": "iscsi",
        "data": {
            "target_discovered": False, "target_iqn": export.target_iqn,
            "target_portal": export.portal, "target_lun": export.lun, "volume_id": vid,
            "auth_method": "CHAP", "auth_username": export.auth_username,
            "auth_password": export.auth_password, "discard": True, "access_mode": "rw",
            "encrypted": False,
        },
    }
    assert Connector().initiators() == ()


async def test_data_written_over_iscsi_lands_in_the_backing_file(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path)
    assert_io_ok(await qemu_io(export, "write -P 0xab 0 1M"))
    assert_io_ok(await qemu_io(export, "read -P 0xab 0 1M", "read -P 0 1M 1M"))
    assert file_bytes(path, 0, MiB) == b"\xab" * MiB
    assert file_bytes(path, MiB, 4096) == b"\0" * 4096
    # And the other way: bytes put in the file are what the LUN serves.
    with path.open("r+b") as f:
        f.seek(8 * MiB)
        f.write(b"\xcd" * MiB)
    assert_io_ok(await qemu_io(export, "read -P 0xcd 8M 1M"))
    bad = await qemu_io(export, "read -P 0x11 8M 1M")
    assert "Pattern verification failed" in bad.out + bad.err


async def test_wrong_or_missing_chap_secret_is_refused(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path)
    assert_login_refused(await qemu_io(export, "read 0 4k", password="not-the-secret"),
                         "Authentication failure")
    listing = await iscsi_ls(export.portal, export.auth_username, "not-the-secret")
    assert f"Lun:{export.lun}" not in listing.out
    assert listing.rc != 0 and "log in" in listing.out + listing.err, listing.out + listing.err
    no_auth = await iscsi_ls(export.portal, None, None)
    assert f"Lun:{export.lun}" not in no_auth.out
    # the right secret, same client, same moment: accepted
    assert_io_ok(await qemu_io(export, "read 0 4k"))


async def test_acl_admits_only_the_given_initiators(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path, initiators=(GOOD_INITIATOR,))
    assert_io_ok(await qemu_io(export, "write -P 0x5a 0 64k", initiator=GOOD_INITIATOR))
    assert_login_refused(await qemu_io(export, "read 0 4k", initiator=BAD_INITIATOR))
    listing = await iscsi_ls(export.portal, export.auth_username, export.auth_password,
                             initiator=BAD_INITIATOR)
    assert f"Lun:{export.lun}" not in listing.out
    # the right initiator still needs the secret
    assert_login_refused(await qemu_io(export, "read 0 4k", password="wrong-secret-1"))
    # exporting again without initiators opens it (still CHAP-protected)
    await h.export(vid, path)
    assert_io_ok(await qemu_io(export, "read -P 0x5a 0 64k", initiator=BAD_INITIATOR))
    assert_login_refused(await qemu_io(export, "read 0 4k", initiator=BAD_INITIATOR,
                                       password="wrong-secret-2"))
    # and restricting again shuts the other initiator out
    await h.export(vid, path, initiators=(GOOD_INITIATOR,))
    assert_login_refused(await qemu_io(export, "read 0 4k", initiator=BAD_INITIATOR))


async def test_ensure_export_converges_to_new_credentials(h: Harness) -> None:
    vid, path = h.new_volume()
    old = await h.export(vid, path, password="first-secret-123")
    new = await h.export(vid, path, password="second-secret-456")
    assert new.auth_password == "second-secret-456" and new.target_iqn == old.target_iqn
    assert_login_refused(await qemu_io(old, "read 0 4k"))
    assert_io_ok(await qemu_io(new, "read 0 4k"))


async def test_resize_follows_the_grown_file(h: Harness) -> None:
    vid, path = h.new_volume(64 * MiB)
    export = await h.export(vid, path)
    assert_io_ok(await qemu_io(export, "write -P 0x77 63M 1M"))
    with path.open("r+b") as f:
        f.truncate(128 * MiB)
    await h.driver.resize(vid)
    assert await read_capacity(export) == 128 * MiB
    assert_io_ok(await qemu_io(export, "read -P 0x77 63M 1M", "write -P 0x78 127M 1M"))
    assert file_bytes(path, 127 * MiB, MiB) == b"\x78" * MiB
    with pytest.raises(TargetError, match="not exported"):
        await h.driver.resize(str(uuid.uuid4()))


async def test_resize_waits_while_an_initiator_is_logged_in(h: Harness) -> None:
    """Re-reading the size re-creates the LUN, which would fail a logged-in
    initiator's commands: resize refuses (TargetBusy, the LUN untouched) until the
    session has logged out."""
    vid, path = h.new_volume(64 * MiB)
    export = await h.export(vid, path)
    holder = await asyncio.create_subprocess_exec(
        "qemu-io", "-c", "write -P 0x21 0 1M", "-c", "sleep 4000", "-c", "read -P 0x21 0 1M",
        "--image-opts", image_opts(export), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while file_bytes(path, 0, MiB) != b"\x21" * MiB:  # logged in and written
            assert asyncio.get_running_loop().time() < deadline, "the holder never wrote"
            await asyncio.sleep(0.05)
        with path.open("r+b") as f:
            f.truncate(128 * MiB)
        with pytest.raises(TargetBusy, match=vid):
            await h.driver.resize(vid)
    finally:
        out, err = await holder.communicate()
    assert holder.returncode == 0 and b"Pattern verification failed" not in out + err, \
        out + err  # the held session's commands all succeeded
    await h.driver.resize(vid)  # logged out: now it is done
    assert await read_capacity(export) == 128 * MiB


async def test_ensure_and_remove_are_idempotent(h: Harness) -> None:
    vid, path = h.new_volume()
    first = await h.export(vid, path)
    again = await h.export(vid, path)
    assert first == again
    assert await h.driver.list_exports() == [vid]
    listing = await iscsi_ls(first.portal, first.auth_username, first.auth_password)
    assert listing.out.count(f"Target:{first.target_iqn} ") == 1
    assert first.target_iqn in await h.backend_iqns()

    await h.driver.remove_export(vid)
    await h.driver.remove_export(vid)
    assert await h.driver.list_exports() == []
    assert first.target_iqn not in await h.backend_iqns()
    listing = await iscsi_ls(first.portal, first.auth_username, first.auth_password)
    assert first.target_iqn not in listing.out
    assert_login_refused(await qemu_io(first, "read 0 4k"))
    assert path.stat().st_size == 64 * MiB  # the backing file is left alone
    await h.driver.remove_export(str(uuid.uuid4()))  # never exported: fine


async def test_restore_after_restart_serves_the_same_data(h: Harness) -> None:
    vid, path = h.new_volume()
    export = await h.export(vid, path, initiators=(GOOD_INITIATOR,))
    assert_io_ok(await qemu_io(export, "write -P 0xab 0 1M"))
    await h.restart()
    assert await h.driver.list_exports() == []
    assert_login_refused(await qemu_io(export, "read 0 4k"))

    spec = ExportSpec(vid, str(path), export.auth_username, export.auth_password,
                      (GOOD_INITIATOR,))
    restored = await h.driver.restore([spec])
    assert restored == {vid: export}
    assert_io_ok(await qemu_io(export, "read -P 0xab 0 1M"))
    assert_login_refused(await qemu_io(export, "read 0 4k", initiator=BAD_INITIATOR))

    # One bad spec does not stop the others; the failure names it.
    await h.restart()
    lost_id = str(uuid.uuid4())
    lost = ExportSpec(lost_id, str(h.tmp / "gone"), "ulost", "plost-secret")
    with pytest.raises(RestoreError) as info:
        await h.driver.restore([lost, spec])
    assert set(info.value.failures) == {lost_id} and set(info.value.restored) == {vid}
    assert await h.driver.list_exports() == [vid]
    assert_io_ok(await qemu_io(export, "read -P 0xab 0 1M"))


async def test_many_exports_at_once(h: Harness) -> None:
    volumes = [h.new_volume((8 + 8 * i) * MiB) for i in range(5)]
    exports = await asyncio.gather(*(h.export(vid, path) for vid, path in volumes))
    assert await h.driver.list_exports() == sorted(vid for vid, _ in volumes)
    assert len({e.target_iqn for e in exports}) == 5
    for i, ((_, path), export) in enumerate(zip(volumes, exports, strict=True)):
        assert await read_capacity(export) == (8 + 8 * i) * MiB  # each LUN on its own file
        assert_io_ok(await qemu_io(export, f"write -P {0x10 + i} 0 64k"))
        assert file_bytes(path, 0, 65536) == bytes([0x10 + i]) * 65536
    await asyncio.gather(*(h.driver.remove_export(vid) for vid, _ in volumes))
    assert await h.driver.list_exports() == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"volume_id": "UPPER-case"}, "invalid volume id"),
    ({"volume_id": "has space"}, "invalid volume id"),
    ({"volume_id": ""}, "invalid volume id"),
    ({"volume_id": "../etc"}, "invalid volume id"),
    ({"volume_id": "a" * 201}, "invalid volume id"),
    ({"path": "relative/file"}, "absolute"),
    ({"path": "/nonexistent/strata-volume"}, "No such file"),
    ({"path": "/"}, "not a regular file"),
    ({"chap_user": ""}, "invalid CHAP user"),
    ({"chap_user": "two words"}, "invalid CHAP user"),
    ({"chap_user": "a%b"}, "invalid CHAP user"),
    ({"chap_password": "bad secret"}, "invalid CHAP password"),
    ({"initiators": ("not-an-iqn",)}, "invalid initiator"),
    ({"initiators": "iqn.2000-01.org.x:y"}, "not one string"),
])
async def test_bad_input_is_refused_and_exports_nothing(
        h: Harness, kwargs: dict[str, object], message: str) -> None:
    vid, path = h.new_volume(MiB)
    args: dict[str, object] = {"volume_id": vid, "path": str(path), "chap_user": "user1",
                               "chap_password": "secret-12345", "initiators": ()}
    args.update(kwargs)
    with pytest.raises(TargetError, match=message):
        await h.driver.ensure_export(
            args["volume_id"], args["path"], chap_user=args["chap_user"],  # type: ignore[arg-type]
            chap_password=args["chap_password"], initiators=args["initiators"])  # type: ignore[arg-type]
    assert await h.driver.list_exports() == []
    with pytest.raises(TargetError, match="invalid volume id"):
        await h.driver.remove_export("Not/Valid")
