"""Image data in a local directory: ``<directory>/<image_id>``, ``file://`` locations.

An upload goes to a hidden temporary file in the same directory
(``.tmp-<image_id>-<random>``, a name no image id can have), is fsynced, then
hard-linked to its final name (atomic, and refused when the name exists:
nothing is ever overwritten), the temporary name removed and the directory
fsynced. A failed or cancelled upload removes its temporary file. Every
blocking call runs in a worker thread; a call in flight when the upload is
cancelled is waited for before cleaning up after it.

A location is accepted only when it names a file directly inside the
directory with an image id's name, opened without following symlinks:
``file:///etc/passwd``, ``file:///<dir>/../x`` and the like are refused with
:class:`InvalidLocation` before the filesystem is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import stat
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from imagestore.stores.base import (
    IMAGE_ID_RE,
    AlreadyExists,
    ByteStream,
    InvalidLocation,
    NotFound,
    Stored,
    StoreError,
    StoreFull,
    check_image_id,
    check_range,
)

T = TypeVar("T")
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
TEMP_PREFIX = ".tmp-"


async def blocking(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread; when cancelled, wait for the thread before re-raising
    (it cannot be stopped, and cleanup must not race with it)."""
    task = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


def os_failure(exc: OSError) -> StoreError:
    if exc.errno in FULL_ERRNOS:
        return StoreFull("the image directory is full")
    return StoreError(f"the filesystem store failed: {exc.strerror or exc}")


class FilesystemStore:
    id = "file"
    description = "Local directory store"
    local_files = True

    def __init__(self, directory: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> None:
        self.directory = Path(directory).resolve()
        self.chunk_size = chunk_size  # write coalescing and read size, in bytes

    def location(self, image_id: str) -> str:
        return f"{self.directory.as_uri()}/{check_image_id(image_id)}"

    def local_path(self, location: str) -> Path | None:
        return self.path_of(location)

    def path_of(self, location: str) -> Path:
        """The file a location names; InvalidLocation unless directly inside the directory."""
        try:
            parts = urlsplit(location)
        except ValueError:
            raise InvalidLocation("not a location of the filesystem store") from None
        if parts.scheme != "file" or parts.netloc not in ("", "localhost") \
                or parts.query or parts.fragment:
            raise InvalidLocation("not a location of the filesystem store")
        raw = unquote(parts.path)
        path = PurePosixPath(raw)
        if "\0" in raw or str(path.parent) != str(self.directory) \
                or not IMAGE_ID_RE.fullmatch(path.name) or str(path) != raw:
            raise InvalidLocation("location outside the image directory")
        return self.directory / path.name

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def add(self, image_id: str, chunks: AsyncIterator[bytes]) -> Stored:
        final = self.directory / check_image_id(image_id)
        temp = self.directory / f"{TEMP_PREFIX}{image_id}-{secrets.token_hex(8)}"

        def create() -> int:
            self.directory.mkdir(parents=True, exist_ok=True)
            if final.exists():
                raise AlreadyExists(f"image {image_id} already has data")
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)

        state = {"fd": -1, "linked": False}

        def write(data: bytes | bytearray) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(state["fd"], view):]

        def commit() -> None:
            os.fsync(state["fd"])
            os.close(state["fd"])
            state["fd"] = -1
            try:
                os.link(temp, final)
            except FileExistsError:
                raise AlreadyExists(f"image {image_id} already has data") from None
            state["linked"] = True
            os.unlink(temp)
            self._fsync_dir()

        def cleanup() -> None:
            if state["fd"] >= 0:
                with contextlib.suppress(OSError):
                    os.close(state["fd"])
            for path in (temp, final) if state["linked"] else (temp,):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

        size = 0
        try:
            try:
                state["fd"] = await blocking(create)
                buf = bytearray()
                async for chunk in chunks:
                    size += len(chunk)
                    if len(buf) + len(chunk) < self.chunk_size:
                        buf += chunk
                        continue
                    if buf:
                        full, buf = buf, bytearray()
                        await blocking(partial(write, full))
                    await blocking(partial(write, chunk))
                if buf:
                    await blocking(partial(write, buf))
                await blocking(commit)
            except OSError as exc:
                raise os_failure(exc) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                await blocking(cleanup)
            raise
        return Stored(self.location(image_id), size)

    async def get(self, location: str, offset: int = 0,
                  length: int | None = None) -> ByteStream:
        check_range(offset, length)
        path = self.path_of(location)

        def open_file() -> tuple[int, int]:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os.close(fd)
                raise StoreError("image data is not a regular file")
            return fd, st.st_size

        try:
            fd, size = await blocking(open_file)
        except FileNotFoundError:
            raise NotFound("image data not found") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError("image data is a symlink: refused") from None
            raise os_failure(exc) from exc
        end = size if length is None else min(size, offset + length)

        async def chunks() -> AsyncIterator[bytes]:
            pos = offset
            while pos < end:
                want = min(self.chunk_size, end - pos)
                try:
                    data = await blocking(partial(os.pread, fd, want, pos))
                except OSError as exc:
                    raise os_failure(exc) from exc
                if not data:
                    raise StoreError("image data shorter than expected")
                pos += len(data)
                yield data

        async def release() -> None:
            await blocking(partial(os.close, fd))

        return ByteStream(chunks(), release)

    async def delete(self, location: str) -> None:
        path = self.path_of(location)

        def remove() -> None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                return
            self._fsync_dir()

        try:
            await blocking(remove)
        except OSError as exc:
            raise os_failure(exc) from exc

    async def close(self) -> None:
        pass
