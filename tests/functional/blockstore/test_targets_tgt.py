"""What is particular to the tgt driver: its parser, its daemon helper, its limits,
and the automatic choice between tgt and LIO."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockstore.targets import (
    LioDriver,
    TargetError,
    TgtDaemon,
    TgtDriver,
    choose_driver_name,
    lio_unavailable_reason,
    select_driver,
    target_iqn,
)
from blockstore.targets.lio import rtslib_available
from blockstore.targets.tgt import (
    SESSION_PARAMS,
    TGTD_MALLOC_ENV,
    TGTD_SOCKET_DIR,
    parse_show,
    takes_direct_io,
    tgtd_environ,
)
from tests.conftest import free_port
from tests.functional.blockstore.test_targets_contract import (
    MiB,
    assert_io_ok,
    qemu_io,
    run,
)

SAMPLE_SHOW = """\
Target 3: iqn.2010-10.org.openstack:volume-abc
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 1
            Initiator: iqn.1994-05.org.strata:host alias: host
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Size: 0 MB, Block size: 1
            Backing store type: null
            Backing store path: None
            Backing store flags: \n\
        LUN: 1
            Type: disk
            Size: 67 MB, Block size: 512
            Backing store type: rdwr
            Backing store path: /var/lib/strata/volumes/volume-abc
            Backing store flags: \n\
    Account information:
        uabc
        mutual (outgoing)
    ACL information:
        ALL
        iqn.1994-05.org.strata:host
Target 7: iqn.2003-01.org.example:someone-else
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
    Account information:
    ACL information:
"""


def test_parse_show_reads_luns_accounts_acls_and_sessions() -> None:
    targets = parse_show(SAMPLE_SHOW)
    assert set(targets) == {"iqn.2010-10.org.openstack:volume-abc",
                            "iqn.2003-01.org.example:someone-else"}
    ours = targets["iqn.2010-10.org.openstack:volume-abc"]
    assert ours.tid == 3 and ours.sessions == 1
    assert ours.luns[0].path is None
    assert ours.luns[1].path == "/var/lib/strata/volumes/volume-abc"
    assert ours.luns[1].size_mb == 67
    assert ours.accounts == ["uabc"] and ours.outgoing == ["mutual"]
    assert ours.acl == ["ALL", "iqn.1994-05.org.strata:host"]
    other = targets["iqn.2003-01.org.example:someone-else"]
    assert other.tid == 7 and other.accounts == [] and other.acl == [] and other.sessions == 0
    assert parse_show("") == {}


def test_parse_show_refuses_garbage() -> None:
    with pytest.raises(TargetError, match="unexpected tgtadm output"):
        parse_show("tgtadm: something else entirely\n")


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[TgtDaemon]:
    d = TgtDaemon(portal_port=free_port(), log_path=tmp_path / "tgtd.log")
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


def make_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


async def test_private_daemons_do_not_see_each_other(daemon: TgtDaemon, tmp_path: Path) -> None:
    other = TgtDaemon(portal_port=free_port(), log_path=tmp_path / "other.log")
    await other.start()
    try:
        path = make_file(tmp_path / "v", MiB)
        await daemon.driver().ensure_export("vol-a", str(path), chap_user="ua",
                                            chap_password="secret-aaaa1")
        assert await daemon.driver().list_exports() == ["vol-a"]
        assert await other.driver().list_exports() == []
    finally:
        await other.stop()
    assert other.pid is None


async def test_second_tgtd_on_the_same_control_port_is_refused(
        daemon: TgtDaemon, tmp_path: Path) -> None:
    clash = TgtDaemon(portal_port=free_port(), control_port=daemon.control_port,
                      log_path=tmp_path / "clash.log")
    with pytest.raises(TargetError, match="exited with status"):
        await clash.start()
    assert await daemon.driver().list_exports() == []  # the first one is unharmed
    with pytest.raises(TargetError, match="already running"):
        await daemon.start()
    with pytest.raises(TargetError, match="control port 40000 out of range"):
        TgtDaemon(portal_port=40000)  # tgtd's -C is at most 32767


async def test_stop_ends_tgtd_and_its_portal(tmp_path: Path) -> None:
    d = TgtDaemon(portal_port=free_port(), log_path=tmp_path / "tgtd.log")
    await d.start()
    path = make_file(tmp_path / "v", MiB)
    await d.driver().ensure_export("vol-a", str(path), chap_user="ua",
                                   chap_password="secret-aaaa1")
    pid = d.pid
    assert pid is not None
    await d.stop(grace=5.0)
    assert d.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", d.portal_port)
    with pytest.raises(TargetError, match="tgtadm"):
        await d.driver().list_exports()
    assert not (TGTD_SOCKET_DIR / f"socket.{d.control_port}").exists()  # no litter left


async def test_cleanup_spares_the_socket_of_a_tgtd_that_took_over_the_port(
        tmp_path: Path) -> None:
    control = free_port()
    first = TgtDaemon(portal_port=free_port(), control_port=control,
                      log_path=tmp_path / "first.log")
    await first.start()
    pid = first.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # dies behind the helper's back
    for _ in range(200):
        if first.pid is None:
            break
        await asyncio.sleep(0.02)
    second = TgtDaemon(portal_port=free_port(), control_port=control,
                       log_path=tmp_path / "second.log")
    await second.start()
    try:
        await first.stop()  # would remove socket.<control> if it did not check the lock
        assert (TGTD_SOCKET_DIR / f"socket.{control}").exists()
        assert await second.driver().list_exports() == []  # still reachable
    finally:
        await second.stop()
    assert not (TGTD_SOCKET_DIR / f"socket.{control}").exists()


async def test_new_targets_get_the_tuned_session_parameters(
        daemon: TgtDaemon, tmp_path: Path) -> None:
    path = make_file(tmp_path / "v", MiB)
    await daemon.driver().ensure_export("vol-a", str(path), chap_user="ua",
                                        chap_password="secret-aaaa1")
    r = await run("tgtadm", "-C", str(daemon.control_port), "--lld", "iscsi", "--mode",
                  "target", "--op", "show", "--tid", "1")
    params = dict(line.split("=", 1) for line in r.out.split() if "=" in line)
    for name, value in SESSION_PARAMS.items():
        assert params[name] == value, name


async def test_disk_files_are_served_with_o_direct_and_memory_files_without(
        daemon: TgtDaemon, tmp_path: Path) -> None:
    """O_DIRECT where the file system takes it (see ``takes_direct_io``; shmem,
    behind the memory backend's memfd volumes, does only on newer kernels), and
    data written over iSCSI reads back either way."""
    driver = daemon.driver()
    disk = make_file(tmp_path / "disk", MiB)
    memfd = os.memfd_create("vol")
    try:
        os.ftruncate(memfd, MiB)
        on_disk = await driver.ensure_export("vol-d", str(disk), chap_user="ud",
                                             chap_password="secret-dddd1")
        in_memory_path = f"/proc/{os.getpid()}/fd/{memfd}"
        in_memory = await driver.ensure_export("vol-m", in_memory_path,
                                               chap_user="um", chap_password="secret-mmmm1")
        r = await run("tgtadm", "-C", str(daemon.control_port), "--lld", "iscsi", "--mode",
                      "target", "--op", "show")
        flags = [line.split(":", 1)[1].strip() for line in r.out.splitlines()
                 if "Backing store flags:" in line]
        # Targets come in order (vol-d, vol-m), each with its controller LUN first.
        memory_direct = "direct" if takes_direct_io(in_memory_path) else ""
        assert flags == ["", "direct", "", memory_direct], r.out
        for export, pattern in ((on_disk, "0x5a"), (in_memory, "0x3c")):
            assert_io_ok(await qemu_io(export, f"write -P {pattern} 4096 64k"))
            assert_io_ok(await qemu_io(export, f"read -P {pattern} 4096 64k"))
        assert disk.read_bytes()[4096:4096 + 65536] == b"\x5a" * 65536
        assert os.pread(memfd, 65536, 4096) == b"\x3c" * 65536
    finally:
        os.close(memfd)


async def test_tgtd_command_buffers_sit_on_huge_pages(daemon: TgtDaemon, tmp_path: Path) -> None:
    """With transparent huge pages available (``madvise`` or ``always``), a 4 MiB write
    lands in a buffer tgtd's malloc backed with huge pages (``glibc.malloc.hugetlb``)."""
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not thp.exists() or "[never]" in thp.read_text():
        pytest.skip("this kernel has transparent huge pages off: nothing to check")
    export = await daemon.driver().ensure_export(
        "vol-h", str(make_file(tmp_path / "h", 8 * MiB)), chap_user="uh",
        chap_password="secret-hhhh1")
    assert_io_ok(await qemu_io(export, "write -P 0x11 0 4M", "read -P 0x11 0 4M"))
    rollup = Path(f"/proc/{daemon.pid}/smaps_rollup").read_text()
    huge_kib = int(next(line.split()[1] for line in rollup.splitlines()
                        if line.startswith("AnonHugePages:")))
    assert huge_kib >= 2048, rollup


def test_tgtd_environment_keeps_glibc_tunables_already_set() -> None:
    env = tgtd_environ({"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["PATH"] == "/bin"
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert env["MALLOC_MMAP_THRESHOLD_"] == TGTD_MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]
    assert tgtd_environ({})["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"


def test_direct_io_probe_says_no_where_o_direct_cannot_open(tmp_path: Path) -> None:
    assert takes_direct_io(str(make_file(tmp_path / "f", MiB)))  # ext4 or xfs under /tmp
    assert not takes_direct_io(str(tmp_path / "missing"))
    assert not takes_direct_io("/proc/self/status")  # procfs has no O_DIRECT


async def test_tgtd_serves_big_buffers_from_its_heap(daemon: TgtDaemon) -> None:
    """The malloc tuning reaches tgtd (without it every command maps fresh memory)."""
    environ = Path(f"/proc/{daemon.pid}/environ").read_bytes().split(b"\0")
    for name, value in TGTD_MALLOC_ENV.items():
        assert f"{name}={value}".encode() in environ


async def test_one_chap_user_cannot_serve_two_volumes(daemon: TgtDaemon, tmp_path: Path) -> None:
    driver = daemon.driver()
    a = make_file(tmp_path / "a", MiB)
    b = make_file(tmp_path / "b", MiB)
    await driver.ensure_export("vol-a", str(a), chap_user="shared", chap_password="secret-aaaa1")
    with pytest.raises(TargetError, match="already used by target"):
        await driver.ensure_export("vol-b", str(b), chap_user="shared",
                                   chap_password="secret-bbbb2")
    assert await driver.list_exports() == ["vol-a"]


async def test_removal_deletes_the_account_and_renaming_the_user_drops_the_old_one(
        daemon: TgtDaemon, tmp_path: Path) -> None:
    driver = daemon.driver()
    path = make_file(tmp_path / "a", MiB)

    async def accounts() -> str:
        r = await run("tgtadm", "-C", str(daemon.control_port), "--lld", "iscsi",
                      "--mode", "account", "--op", "show")
        return r.out

    await driver.ensure_export("vol-a", str(path), chap_user="first", chap_password="secret-1234")
    await driver.ensure_export("vol-a", str(path), chap_user="second", chap_password="secret-1234")
    listed = await accounts()
    assert "second" in listed and "first" not in listed
    await driver.remove_export("vol-a")
    assert "second" not in await accounts()


async def test_other_software_targets_are_left_alone(daemon: TgtDaemon, tmp_path: Path) -> None:
    base = ["tgtadm", "-C", str(daemon.control_port), "--lld", "iscsi"]
    r = await run(*base, "--mode", "target", "--op", "new", "--tid", "1",
                  "--targetname", "iqn.2003-01.org.example:not-ours")
    assert r.rc == 0, r.err
    driver = daemon.driver()
    path = make_file(tmp_path / "v", MiB)
    await driver.ensure_export("vol-a", str(path), chap_user="ua", chap_password="secret-aaaa1")
    assert await driver.list_exports() == ["vol-a"]  # tid 2, next to the foreign tid 1
    await driver.remove_export("vol-a")
    show = await run(*base, "--mode", "target", "--op", "show")
    assert "Target 1: iqn.2003-01.org.example:not-ours" in show.out
    assert target_iqn("vol-a") not in show.out


async def test_driver_against_a_dead_daemon_raises_target_error(tmp_path: Path) -> None:
    driver = TgtDriver(control_port=free_port())  # nobody listens on this control socket
    with pytest.raises(TargetError, match="tgtadm"):
        await driver.list_exports()


def test_selection_picks_tgt_without_configfs(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-configfs")
    assert choose_driver_name(missing) == "tgt"
    assert isinstance(select_driver(configfs_target=missing, tgt_control_port=5),
                      TgtDriver)
    with pytest.raises(ValueError, match="LIO cannot run"):
        select_driver(prefer="lio", configfs_target=missing)
    with pytest.raises(ValueError, match="unknown iSCSI target driver"):
        select_driver(prefer="iet")
    # This host, as it is:
    expected = "lio" if lio_unavailable_reason() is None else "tgt"
    assert choose_driver_name() == expected


def test_selection_picks_lio_where_configfs_has_a_target_dir(tmp_path: Path) -> None:
    if not rtslib_available():
        pytest.fail("rtslib-fb is a dependency and must be installed")
    configfs = tmp_path / "target"
    configfs.mkdir()
    assert choose_driver_name(str(configfs)) == "lio"
    driver = select_driver(configfs_target=str(configfs), portal_port=3261)
    assert isinstance(driver, LioDriver) and driver.portal == "127.0.0.1:3261"
