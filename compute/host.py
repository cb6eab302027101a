"""Host setup for compute: make sure libvirtd and virtlogd run on this hypervisor host.

``strata up`` installs the Debian packages of the compute service entry
(``libvirt-daemon-system``, ``qemu-system-x86``, ...) and then calls
:func:`prepare`, which starts the daemons when they are not running: through
systemd where systemd is the init, else directly (``virtlogd -d``, ``libvirtd -d``;
containers and CI machines have no systemd). Debian's libvirtd needs
``/var/run/libvirt``, ``/var/log/libvirt``, the ``libvirt-qemu`` user and the ``kvm``
group; the package creates the user and group, the directories are made here.

Nothing here raises on a host where libvirt cannot run: :func:`ensure_libvirtd`
answers the reason, the compute service refuses to start with it, and the rest of
the cloud is not held up.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket as _socket
import subprocess
import sys
import time
from pathlib import Path

from common.config import StrataConfig

RUN_DIR = Path("/var/run/libvirt")
LOG_DIR = Path("/var/log/libvirt")
LIBVIRT_SOCKET = RUN_DIR / "libvirt-sock"
VIRTLOGD_SOCKET = RUN_DIR / "virtlogd-sock"
START_TIMEOUT = 15.0


def _systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _answers(uri: str) -> str | None:
    """None when libvirtd answers at ``uri``, else why not."""
    try:
        import libvirt
    except ImportError:
        return "the libvirt-python module is missing (reinstall Strata: ./strata up)"
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        return str(exc.get_error_message())
    try:
        conn.getVersion()
    finally:
        conn.close()
    return None


def _listening(socket: Path) -> bool:
    """True when a process accepts connections on the unix socket ``socket``."""
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    probe.settimeout(2.0)
    try:
        probe.connect(str(socket))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _start(binary: str, socket: Path) -> str | None:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if path is None:
        return f"{binary} is not installed (Debian: libvirt-daemon-system)"
    if _listening(socket):
        return None
    if socket.exists() or socket.is_symlink():
        # A socket file nobody listens on is left over from a daemon that died (or a
        # machine that restarted without cleaning /run): the daemon would refuse to
        # start on it, and skipping the start would leave nobody answering.
        socket.unlink()
    result = subprocess.run([path, "-d"], capture_output=True, text=True, check=False,
                            timeout=30)
    if result.returncode != 0:
        return f"{binary} -d failed: {(result.stderr or result.stdout).strip()[-300:]}"
    return None


def ensure_libvirtd(uri: str = "qemu:///system") -> str | None:
    """Start virtlogd and libvirtd when they are not running (needs root).

    Returns None once libvirtd answers at ``uri``, else the reason it cannot.
    """
    try:
        return _ensure(uri)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"starting libvirtd failed: {exc}"


def _ensure(uri: str) -> str | None:
    if _answers(uri) is None:
        return None
    if os.geteuid() != 0:
        return f"libvirtd does not answer at {uri} and starting it needs root"
    for name, getter in (("libvirt-qemu", pwd.getpwnam), ("kvm", grp.getgrnam)):
        try:
            getter(name)
        except KeyError:
            return (f"the {name} user/group is missing: reinstall libvirt-daemon-system "
                    "(apt-get install --reinstall libvirt-daemon-system)")
    for directory in (RUN_DIR, LOG_DIR):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    if _systemd():
        subprocess.run(["systemctl", "start", "virtlogd.socket", "virtlogd",
                        "libvirtd.socket", "libvirtd"], capture_output=True, check=False,
                       timeout=60)
    else:
        for binary, socket in (("virtlogd", VIRTLOGD_SOCKET), ("libvirtd", LIBVIRT_SOCKET)):
            why = _start(binary, socket)
            if why:
                return why
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        why = _answers(uri)
        if why is None:
            return None
        if time.monotonic() > deadline:
            return f"libvirtd did not answer at {uri} within {START_TIMEOUT:g}s: {why}"
        time.sleep(0.2)


def prepare(cfg: StrataConfig) -> None:
    """``strata up``'s hook: libvirtd up before the compute service starts (never raises)."""
    why = ensure_libvirtd(cfg.compute.libvirt_uri)
    if why:
        print(f"strata: compute: libvirt cannot run here: {why}", file=sys.stderr)
