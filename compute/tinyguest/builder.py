"""Build the tiny test guest from Debian packages: kernel (aki), initramfs (ari), disk (ami).

The guest is what the test suite boots and what ``strata image tiny`` offers a new
user: a Debian distribution kernel (``linux-image-*-amd64``, the one
``linux-image-amd64`` depends on) booted directly (kernel + ramdisk, no boot
loader) with a busybox-static initramfs whose ``/init`` (``init.sh`` beside this
module) loads the virtio modules, gets an address by DHCP, reads the config drive
(label ``config-2``) or the metadata service, installs the public keys, starts
dropbear, runs ``user_data`` when it is a script and prints
``STRATA-TINY-READY <uuid>`` on the serial console.

Packages come from apt (``apt-get download``, unpacked with ``dpkg -x``); nothing
is installed on the host. The build is cached under ``cache_dir/<key>``, the key
being a hash of the package versions and of the guest's scripts, so a new kernel
or a changed init makes a new build and an unchanged one is reused. Builds are
serialised by a lock file, and a build appears in the cache only once complete
(renamed into place). Blocking: call it from a worker thread in async code.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNEL_META_PACKAGE = "linux-image-amd64"
_KERNEL_PACKAGE = re.compile(r"^linux-image-[0-9.]+-\d+-amd64$")
USER_PACKAGES = ("busybox-static", "dropbear-bin", "libtomcrypt1", "libtommath1")
# Loaded by /init in this order (dependencies first); the config drive is a virtio disk,
# so virtio_blk and isofs are all it needs (cdrom for a CD-ROM bus, should one be used).
MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
           "virtio_pci", "virtio_blk", "failover", "net_failover", "virtio_net", "cdrom",
           "isofs")
READY_MARKER = "STRATA-TINY-READY"
LINE_PREFIX = "STRATA-TINY:"
ROOT_MAGIC = b"STRATA-TINY-ROOT"
DISK_SIZE = 1 << 20
KERNEL_CMDLINE = "console=ttyS0"
FORMAT_VERSION = 1  # bump when the layout of a build changes

Log = Callable[[str], None]


class TinyGuestError(Exception):
    """The guest cannot be built here; the message says why."""


@dataclass(frozen=True)
class TinyGuest:
    """A complete build: three files and what they were built from."""

    directory: Path
    key: str
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def ramdisk(self) -> Path:
        return self.directory / "initrd.gz"

    @property
    def disk(self) -> Path:
        return self.directory / "disk.raw"

    @property
    def cmdline(self) -> str:
        return KERNEL_CMDLINE

    @property
    def busybox(self) -> Path:
        """The guest's busybox-static, kept beside it: tests run its udhcpd and httpd
        as the guest's DHCP server and metadata service in a namespace."""
        return self.directory / "busybox"


def default_cache_dir() -> Path:
    """``$STRATA_TINY_CACHE``, else ``~/.cache/strata/tinyguest``."""
    explicit = os.environ.get("STRATA_TINY_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "strata" / "tinyguest"


def _run(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 600.0) -> str:
    try:
        result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True,
                                timeout=timeout, check=False)
    except FileNotFoundError:
        raise TinyGuestError(f"{argv[0]} is not installed (a Debian system with apt is "
                             "needed to build the tiny guest)") from None
    except subprocess.TimeoutExpired:
        raise TinyGuestError(f"{' '.join(argv)} did not finish within {timeout:g}s") from None
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-800:]
        raise TinyGuestError(f"{' '.join(argv)} failed ({result.returncode}): {tail}")
    return result.stdout


def _candidates(packages: Iterable[str]) -> dict[str, str]:
    """Candidate version of each package per ``apt-cache policy`` (missing ones left out)."""
    out = _run(["apt-cache", "policy", *packages])
    found: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
        elif line.strip().startswith("Candidate:") and current:
            version = line.split(":", 1)[1].strip()
            if version and version != "(none)":
                found[current] = version
    return found


def _kernel_package() -> str | None:
    out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE])
    for line in out.splitlines():
        name = line.strip().removeprefix("Depends:").strip()
        if _KERNEL_PACKAGE.match(name):
            return name
    return None


def resolve_versions(*, update: bool = True) -> dict[str, str]:
    """The packages (and versions) a build uses now; runs ``apt-get update`` once when
    apt knows none of them (a fresh machine) and ``update`` allows it."""
    for attempt in (1, 2):
        kernel = _kernel_package()
        wanted = [*USER_PACKAGES, *([kernel] if kernel else [])]
        versions = _candidates(wanted)
        if kernel and len(versions) == len(wanted):
            return versions
        if attempt == 1 and update and os.geteuid() == 0 and shutil.which("apt-get"):
            _run(["apt-get", "update", "-q"])
            continue
        missing = sorted(set(wanted) - set(versions)) or [KERNEL_META_PACKAGE]
        raise TinyGuestError(f"apt knows no version of {', '.join(missing)}; run "
                             "`apt-get update` (as root) and try again")
    raise AssertionError("unreachable")


def _host_libc() -> str:
    out = _run(["dpkg-query", "-W", "-f", "${Version}", "libc6"])
    return out.strip()


def build_key(versions: dict[str, str], libc: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, "packages": versions, "libc6": libc},
                             sort_keys=True).encode())
    for script in ("init.sh", "udhcpc.sh"):
        digest.update((HERE / script).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def _complete(directory: Path) -> TinyGuest | None:
    try:
        meta = json.loads((directory / "build.json").read_text())
    except (OSError, ValueError):
        return None
    guest = TinyGuest(directory, str(meta.get("key", directory.name)),
                      dict(meta.get("packages", {})))
    if all(p.is_file() for p in (guest.kernel, guest.ramdisk, guest.disk, guest.busybox)):
        return guest
    return None


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(cache_dir: Path | None = None, *, log: Log | None = None,
          keep: int = 2) -> TinyGuest:
    """The tiny guest for the current package versions: cached, else built now.

    ``keep`` older builds stay in the cache (others are removed). When apt cannot
    tell the versions (no package lists, no network), the newest cached build is used.
    """
    cache = cache_dir or default_cache_dir()
    say = log or (lambda _msg: None)
    with _locked(cache):
        try:
            versions = resolve_versions()
        except TinyGuestError as exc:
            cached = sorted((g for d in cache.iterdir() if d.is_dir()
                             if (g := _complete(d)) is not None),
                            key=lambda g: g.directory.stat().st_mtime)
            if not cached:
                raise
            say(f"tiny guest: {exc}; using the cached build {cached[-1].key}")
            return cached[-1]
        key = build_key(versions, _host_libc())
        target = cache / key
        existing = _complete(target)
        if existing is not None:
            return existing
        say(f"tiny guest: building {key} from "
            + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
        try:
            _build_into(work, versions, key)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(work / "out", target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _prune(cache, keep=keep, current=target)
        guest = _complete(target)
        assert guest is not None
        say(f"tiny guest: built in {target}")
        return guest


def _prune(cache: Path, *, keep: int, current: Path) -> None:
    builds = sorted((d for d in cache.iterdir() if d.is_dir() and not d.name.startswith(".")
                     and d != current), key=lambda d: d.stat().st_mtime, reverse=True)
    for old in builds[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _build_into(work: Path, versions: dict[str, str], key: str) -> None:
    debs = work / "debs"
    root = work / "root"
    out = work / "out"
    for d in (debs, root, out):
        d.mkdir()
    os.chmod(out, 0o755)
    _run(["apt-get", "download", "-q", *(f"{p}={v}" for p, v in sorted(versions.items()))],
         cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(root)])
    kernel_pkg = next(p for p in versions if p.startswith("linux-image-"))
    release = kernel_pkg.removeprefix("linux-image-")
    shutil.copyfile(root / "boot" / f"vmlinuz-{release}", out / "vmlinuz")
    cpio = Cpio()
    for name in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "lib", "lib/modules",
                 "dev", "proc", "sys", "tmp", "run", "root", "mnt"):
        cpio.directory(name)
    cpio.device("dev/console", 5, 1)
    cpio.file("init", (HERE / "init.sh").read_bytes(), 0o755)
    cpio.file("etc/udhcpc.sh", (HERE / "udhcpc.sh").read_bytes(), 0o755)
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    cpio.file("etc/group", b"root:x:0:\n", 0o644)
    cpio.file("etc/shells", b"/bin/sh\n", 0o644)
    busybox = (root / "bin" / "busybox").read_bytes()
    cpio.file("bin/busybox", busybox, 0o755)
    (out / "busybox").write_bytes(busybox)
    dropbear = root / "usr" / "sbin" / "dropbear"
    cpio.file("usr/sbin/dropbear", dropbear.read_bytes(), 0o755)
    for lib in _shared_libraries(dropbear, root):
        cpio.file(str(lib).lstrip("/"), lib_bytes(root, lib), 0o755)
    moddir = root / "lib" / "modules" / release
    for name in MODULES:
        found = list(moddir.rglob(f"{name}.ko"))
        if not found:
            raise TinyGuestError(f"{kernel_pkg} has no module {name}.ko (built in, or "
                                 "compressed?)")
        cpio.file(f"lib/modules/{name}.ko", found[0].read_bytes(), 0o644)
    (out / "initrd.gz").write_bytes(gzip.compress(cpio.finish(), compresslevel=9, mtime=0))
    (out / "disk.raw").write_bytes(root_disk())
    (out / "build.json").write_text(json.dumps(
        {"key": key, "packages": versions, "kernel": release, "modules": list(MODULES),
         "cmdline": KERNEL_CMDLINE}, indent=2, sort_keys=True) + "\n")
    for f in out.iterdir():
        os.chmod(f, 0o755 if f.name == "busybox" else 0o644)


def root_disk() -> bytes:
    """The ami: a raw disk with the root magic in sector 0 and a boot count in sector 1."""
    disk = bytearray(DISK_SIZE)
    disk[0:len(ROOT_MAGIC) + 1] = ROOT_MAGIC + b"\n"
    disk[512:520] = b"boots 0\n"
    return bytes(disk)


def _shared_libraries(binary: Path, root: Path) -> list[Path]:
    """Absolute paths (as the guest sees them) of the libraries ``binary`` loads."""
    libdirs = [root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu"]
    env = dict(os.environ, LD_LIBRARY_PATH=":".join(str(d) for d in libdirs))
    out = _run(["ldd", str(binary)], env=env)
    libs: list[Path] = []
    for line in out.splitlines():
        line = line.strip()
        path = line.split("=>", 1)[1].split("(")[0].strip() if "=>" in line else \
            line.split("(")[0].strip()
        if not path.startswith("/"):
            continue  # linux-vdso
        p = Path(path)
        with contextlib.suppress(ValueError):
            p = Path("/") / p.relative_to(root)
        libs.append(p)
    if not libs:
        raise TinyGuestError(f"ldd found no libraries for {binary}")
    return libs


def lib_bytes(root: Path, guest_path: Path) -> bytes:
    """A library's bytes: from the unpacked packages when there, else from the host."""
    staged = root / str(guest_path).lstrip("/")
    return (staged if staged.exists() else guest_path).read_bytes()


class Cpio:
    """A ``newc`` cpio archive (the initramfs format) built in memory, deterministically."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1
        self._dirs: set[str] = set()

    def _parents(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.directory("/".join(parts[:i]))

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
               nlink: int = 1) -> None:
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0)
        self._ino += 1
        header = b"070701" + b"".join(b"%08X" % v for v in fields)
        self._parts.append(_pad(header + encoded))
        if data:
            self._parts.append(_pad(data))

    def directory(self, name: str) -> None:
        if name not in self._dirs:
            self._parents(name)
            self._dirs.add(name)
            self._entry(name, 0o040755, nlink=2)

    def file(self, name: str, data: bytes, perm: int) -> None:
        self._parents(name)
        self._entry(name, 0o100000 | perm, data)

    def device(self, name: str, major: int, minor: int) -> None:
        self._parents(name)
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self._parts)


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)
