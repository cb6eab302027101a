"""``strata test``: lint, type-check and run the test suite, as CI does."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from common import debpkg
from common.cli import Command, CommandError, Context

# Debian packages the test suite needs: PostgreSQL for the PostgreSQL-backed tests,
# Chromium for the browser checks of StaticWeb sites (``chromium --headless``), and
# the S3 command-line clients the S3 front is checked with (aws CLI, rclone, s3cmd).
TEST_PACKAGES: tuple[str, ...] = (
    "postgresql", "chromium", "awscli", "rclone", "s3cmd", "qemu-utils", "genisoimage",
    # iSCSI: the tgt target (tgtd/tgtadm) and the real initiators the block store is checked
    # with: libiscsi's iscsi-ls/iscsi-readcapacity16/iscsi-perf, QEMU's iscsi:// block driver.
    "tgt", "libiscsi-bin", "qemu-block-extra",
    # qemu-storage-daemon: the file volume backend's raw FUSE view of a qcow2 chain.
    "qemu-system-common",
    # The network data path (what the network service's host needs, see
    # network.dataplane.DEBIAN_PACKAGES) and its tests' stand-in guests: busybox's
    # udhcpc takes DHCP leases in namespaces, ping checks reachability.
    "iproute2", "nftables", "dnsmasq-base", "conntrack", "procps", "busybox", "iputils-ping",
    # compute: libvirtd/virtlogd and QEMU boot the tiny test guest (the tests start the
    # daemons when they are not running); ssh drives the guest's dropbear.
    "libvirt-daemon-system", "qemu-system-x86", "openssh-client",
)

PYTEST_NO_TESTS = 5  # pytest's exit status when it collected nothing


def steps(pytest_args: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(name, argv) of each check, in the order they run."""
    py = sys.executable
    return [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("mypy", [py, "-m", "mypy"]),
        ("pytest", [py, "-m", "pytest", *(pytest_args or ["-q"])]),
    ]


def run_steps(plan: Sequence[tuple[str, list[str]]], cwd: Path) -> list[tuple[str, int]]:
    """Run every step (even after a failure) and return (name, exit status) each."""
    results = []
    for name, argv in plan:
        print(f"==> {name}: {' '.join(argv[1:])}", flush=True)
        code = subprocess.run(argv, cwd=cwd, check=False).returncode
        if name == "pytest" and code == PYTEST_NO_TESTS:
            print("==> pytest collected no tests; that is a failure", flush=True)
        results.append((name, code))
    return results


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "strata test [-h] [--config PATH] [pytest arguments ...]"


def _run_test(ctx: Context) -> int:
    try:
        debpkg.ensure(TEST_PACKAGES, "the test suite")
    except debpkg.PackageError as exc:
        raise CommandError(str(exc)) from None
    results = run_steps(steps(ctx.extra), ctx.home)
    failed = [(name, code) for name, code in results if code != 0]
    summary = ", ".join(
        f"{name} {'ok' if code == 0 else f'FAILED ({code})'}" for name, code in results
    )
    print(f"==> {summary}", flush=True)
    return failed[0][1] if failed else 0


TEST = Command(
    "test",
    "run ruff, mypy and the test suite",
    "Install the Debian packages the tests need when missing (postgresql, chromium, "
    "awscli, rclone, s3cmd, the iSCSI tools, dnsmasq, nftables, libvirt, qemu, ...), then "
    "run, from the Strata home and with this interpreter, `ruff check .`, `mypy` "
    "and `pytest` with the arguments given (default: the whole suite, -q). Every "
    "check runs; the exit status is non-zero when any failed, including when "
    "pytest collected no tests.",
    _run_test,
    _configure,
    examples="  strata test                        # everything, as CI does\n"
    "  strata test tests/unit -x          # arguments go to pytest\n"
    "  strata test -k token -vv",
    passthrough=True,
)

COMMANDS = (TEST,)
