"""Write a whole file atomically and durably: a reader sees the old bytes or the
new, never half, and once the call returns the new bytes survive a crash."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_all", "fsync_dir", "write_atomic"]


def fsync_all(fds: list[int], then: Callable[[], None] | None = None) -> None:
    """fsync each open file or directory of ``fds``, in order, then call ``then``."""
    for fd in fds:
        os.fsync(fd)
    if then is not None:
        then()


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644,
                 tmp_dir: str | os.PathLike[str] | None = None) -> None:
    """Write ``data`` to ``path``: a temp file (beside it, or in ``tmp_dir`` on the
    same filesystem, for directories whose readers must never see temp names),
    fsync, rename into place, fsync the directory. ``mode`` applies from the
    first byte (secrets are never readable by others, even briefly)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=tmp_dir if tmp_dir is not None else directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)
