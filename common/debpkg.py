"""Debian packages a command needs: check with ``dpkg -s``, install with apt-get.

``strata up`` installs what the enabled services declare in
``ServiceSpec.debian_packages``; ``strata test`` installs the test dependencies.
Nothing is done when every package is already installed, so the common path
costs one ``dpkg -s`` per package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable


class PackageError(Exception):
    """Packages are missing and cannot be installed here; the message says what to do."""


def is_installed(package: str) -> bool:
    """True when dpkg reports ``package`` as installed (not merely known)."""
    result = subprocess.run(
        ["dpkg", "-s", package], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return False
    for line in result.stdout.splitlines():
        if line.startswith("Status:"):
            return line.split()[-1] == "installed"
    return False


def missing(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that are not installed, in order, without repeats."""
    seen: list[str] = []
    for pkg in packages:
        if pkg not in seen:
            seen.append(pkg)
    return [pkg for pkg in seen if not is_installed(pkg)]


def ensure(packages: Iterable[str], why: str) -> list[str]:
    """Install the missing ones of ``packages`` (``apt-get update`` once, then install).

    Returns the packages installed. Raises :class:`PackageError` when some are
    missing and this process cannot install them (not root, no apt-get, apt failed).
    On a system without dpkg (not Debian) a warning is printed and nothing is done.
    """
    wanted = list(packages)
    if not wanted:
        return []
    if shutil.which("dpkg") is None:
        print(
            f"strata: not a Debian system (no dpkg); make sure {', '.join(wanted)} "
            f"are installed ({why})",
            file=sys.stderr,
        )
        return []
    todo = missing(wanted)
    if not todo:
        return []
    listing = " ".join(todo)
    if shutil.which("apt-get") is None:
        raise PackageError(f"{why} needs the Debian packages {listing}; install them")
    if os.geteuid() != 0:
        raise PackageError(
            f"{why} needs the Debian packages {listing}; run as root, or first: "
            f"sudo apt-get install -y {listing}"
        )
    print(f"strata: installing Debian packages for {why}: {listing}", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *todo]):
        # apt's output goes to stderr so that a command's own output stays clean.
        result = subprocess.run(cmd, env=env, stdout=sys.stderr, check=False)
        if result.returncode != 0:
            raise PackageError(f"{' '.join(cmd)} failed with status {result.returncode}")
    still = missing(todo)
    if still:
        raise PackageError(f"apt-get did not install {' '.join(still)}")
    return todo
