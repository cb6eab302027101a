"""Image data flows: direct upload, staging, interoperable import, deletion of data.

* Direct upload (``PUT /file``): ``queued`` -> ``saving`` -> ``active``.
* ``glance-direct``: ``PUT /stage`` writes the bytes to ``<staging>/<id>``
  (``queued`` -> ``uploading``); ``POST /import`` (-> ``importing``) starts a
  background job that inspects the staged file, converts it with qemu-img when
  ``import_convert_to`` names another format, and streams it into the store
  through the same pipeline as a direct upload (-> ``active``).
* ``web-download``: the job first fetches the URI (only under an allowed
  prefix, no redirects) into the staging area, then goes on as above.

A direct upload the client broke off, or that was refused (too large, over
quota, failed inspection), returns the image to ``queued`` so it can be
retried; a store failure mid-upload marks it ``killed``. An import that fails
goes back to ``queued`` with its staged data removed and
``os_glance_failed_import`` naming the store, as Glance does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy.orm import Session

from common.errors import StrataError
from diskimage import qemu
from diskimage.inspector import ImageRejected
from diskimage.safety import verify_file
from imagestore import core, tasks
from imagestore.errors import ClientDisconnected, Forbidden, Gone, Invalid, TooLarge, Unavailable
from imagestore.policy import Caller
from imagestore.state import ImageState
from imagestore.upload import ClientGone, StoreFailed, delete_data, store_image

log = logging.getLogger(__name__)

READ = 1 << 20
T = TypeVar("T")


def limit_message(up: core.Upload, limits: core.Limits) -> str:
    if up.quota_limited:
        return (f"Image size quota exceeded: project {up.owner} may hold at most "
                f"{limits.image_bytes} bytes of image data.")
    return (f"The image is larger than the maximum image size of "
            f"{limits.max_image_size} bytes.")


async def _shielded(aw: Awaitable[T]) -> T:
    """Finish ``aw`` even when the request is being cancelled (state must be restored)."""
    return await asyncio.shield(asyncio.ensure_future(aw))


def _translate(exc: BaseException) -> BaseException:
    if isinstance(exc, StoreFailed):
        return Unavailable(f"The image store failed while saving the data: {exc}")
    if isinstance(exc, ClientGone):
        return ClientDisconnected("The client stopped sending the image data.")
    return exc


async def upload(st: ImageState, who: Caller, image_id: str,
                 body: AsyncIterator[bytes], length: int | None) -> None:
    """``PUT /v2/images/{id}/file``: the image ends ``active``, or not changed but for
    its status (see the module docstring)."""
    limits = st.limits
    if length is not None and length > limits.max_image_size:
        raise TooLarge(f"The image is larger than the maximum image size of "
                       f"{limits.max_image_size} bytes.")
    up = await st.db.run(lambda s: core.begin_data(s, who, image_id, "queued", "saving",
                                                   limits))
    try:
        if length is not None and length > up.limit:
            raise TooLarge(limit_message(up, limits))
        result = await store_image(st.store, image_id, body, disk_format=up.disk_format,
                                   container_format=up.container_format, limit=up.limit,
                                   limit_message=limit_message(up, limits),
                                   spool_dir=st.staging)
    except BaseException as exc:
        status = "killed" if isinstance(exc, StoreFailed) else "queued"
        if isinstance(exc, StoreFailed):
            log.error("image %s: the %s store failed: %s", image_id, st.store.id, exc)
        await _shielded(st.db.run(lambda s: core.end_data(s, image_id, "saving", status)))
        new = _translate(exc)
        if new is exc:
            raise
        raise new from None
    ok = await _shielded(st.db.run(lambda s: core.end_data(
        s, image_id, "saving", "active", size=result.size, checksum=result.checksum,
        os_hash_algo="sha512", os_hash_value=result.os_hash_value,
        virtual_size=result.virtual_size, store=st.store.id, location=result.location)))
    if not ok:
        await delete_data(st.store, result.location)
        raise Gone(f"Image {image_id} was deleted while its data was being uploaded.")


# -- staging ----------------------------------------------------------------------------


def _remove(path: Path) -> None:
    """Unlink a staging file if it is there (a quick metadata operation)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def staged_path(st: ImageState, image_id: str) -> Path:
    return st.staging / image_id


async def _write_file(path: Path, source: AsyncIterator[bytes], limit: int,
                      too_large: str) -> int:
    """Stream ``source`` into a new file at ``path``; its size. Removed on any failure."""
    fd = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    size = 0
    pending = bytearray()
    try:
        async for chunk in source:
            size += len(chunk)
            if size > limit:
                raise TooLarge(too_large)
            pending += chunk
            if len(pending) >= READ:
                data, pending = bytes(pending), bytearray()
                await asyncio.to_thread(os.write, fd, data)
        if pending:
            await asyncio.to_thread(os.write, fd, bytes(pending))
        await asyncio.to_thread(os.fsync, fd)
        return size
    except BaseException:
        _remove(path)
        raise
    finally:
        os.close(fd)


async def stage(st: ImageState, who: Caller, image_id: str,
                body: AsyncIterator[bytes], length: int | None) -> None:
    """``PUT /v2/images/{id}/stage``: the bytes wait in the staging area for an import."""
    limits = st.limits
    up = await st.db.run(lambda s: core.begin_data(s, who, image_id, "queued", "uploading",
                                                   limits))
    path = staged_path(st, image_id)
    try:
        if length is not None and length > up.limit:
            raise TooLarge(limit_message(up, limits))
        try:
            size = await _write_file(path, body, up.limit, limit_message(up, limits))
        except (ConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ClientGone(str(exc)) from None
    except BaseException as exc:
        await _shielded(st.db.run(lambda s: core.end_data(s, image_id, "uploading", "queued",
                                                          staged_size=0)))
        new = _translate(exc)
        if new is exc:
            raise
        raise new from None
    ok = await _shielded(st.db.run(lambda s: core.set_staged(s, image_id, size)))
    if not ok:
        _remove(path)
        raise Gone(f"Image {image_id} was deleted while its data was being staged.")


# -- import -----------------------------------------------------------------------------


def parse_method(st: ImageState, body: Any) -> tuple[str, str | None]:
    """(method name, uri) from an import request body; 400 when unusable."""
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise Invalid("The import request needs a 'method' object with a 'name'.")
    name = method["name"]
    cfg = st.cfg.imagestore
    if name == "glance-direct":
        return name, None
    if name == "web-download":
        if not cfg.web_download:
            raise Invalid("Import method web-download is not enabled on this cloud.")
        uri = method.get("uri")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
            raise Invalid("web-download needs an http or https 'uri'.")
        allowed = cfg.web_download_allowed.split()
        if not any(uri.startswith(prefix) for prefix in allowed):
            raise Forbidden(f"The URI {uri} is not allowed for web-download on this cloud.")
        return name, uri
    raise Invalid(f"Import method {name} is not supported (use glance-direct"
                  f"{' or web-download' if cfg.web_download else ''}).")


async def start_import(st: ImageState, who: Caller, image_id: str, body: Any,
                       request_id: str | None = None) -> None:
    """``POST /v2/images/{id}/import``: check, move to ``importing``, record the task
    (``imagestore.tasks``) and start the job."""
    name, uri = parse_method(st, body)
    source = "uploading" if name == "glance-direct" else "queued"
    task_input: dict[str, Any] = {"image_id": image_id, "import_req": body}

    def begin(s: Session) -> tuple[core.Upload, str]:
        up = core.begin_data(s, who, image_id, source, "importing", st.limits)
        return up, tasks.create(s, who, type=tasks.IMPORT_TYPE, task_input=task_input,
                                image_id=image_id, request_id=request_id)

    up, task_id = await st.db.run(begin)
    st.spawn(_import_job(st, up, uri, task_id))


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(fh.read, READ):
            yield chunk
    finally:
        fh.close()


async def _download(st: ImageState, uri: str, path: Path, limit: int, message: str) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    async with st.session.get(uri, allow_redirects=False, timeout=timeout) as r:
        if r.status != 200:
            raise Invalid(f"web-download of {uri} answered {r.status}")
        await _write_file(path, r.content.iter_chunked(READ), limit, message)


async def _import_job(st: ImageState, up: core.Upload, uri: str | None,
                      task_id: str) -> None:
    image_id = up.image_id
    staged = staged_path(st, image_id)
    converted = staged.with_name(image_id + ".converted")
    limits = st.limits
    try:
        if uri is not None:
            await _download(st, uri, staged, up.limit, limit_message(up, limits))
        disk_format, container = await st.db.run(lambda s: core.image_formats(s, image_id))
        assert disk_format is not None
        await verify_file(staged, disk_format, container)  # before qemu-img converts it
        target = st.cfg.imagestore.import_convert_to
        source, fmt = staged, disk_format
        if target and target != disk_format and container == "bare" \
                and disk_format not in ("iso", "ami", "ari", "aki"):
            await qemu.convert(staged, disk_format, converted, target)
            source, fmt = converted, target
        result = await store_image(st.store, image_id, _file_chunks(source), disk_format=fmt,
                                   container_format=container, limit=up.limit,
                                   limit_message=limit_message(up, limits), local_copy=source)
        ok = await _shielded(st.db.run(lambda s: core.finish_import(
            s, image_id, disk_format=fmt, size=result.size, checksum=result.checksum,
            os_hash_algo="sha512", os_hash_value=result.os_hash_value,
            virtual_size=result.virtual_size, store=st.store.id, location=result.location)))
        if not ok:
            await delete_data(st.store, result.location)
            await _import_ended(st, image_id, task_id, "The image was deleted while it "
                                "was being imported.")
        else:
            log.info("image %s imported (%s, %d bytes)", image_id, fmt, result.size)
            await st.db.run(lambda s: tasks.finish(s, task_id, ok=True,
                                                   result={"image_id": image_id}))
    except asyncio.CancelledError:
        await _shielded(_import_ended(st, image_id, task_id,
                                      "The image service stopped during the import."))
        raise
    except (ImageRejected, qemu.QemuImgError, StrataError) as exc:
        log.warning("import of image %s refused: %s", image_id, exc.message)
        await _import_ended(st, image_id, task_id, exc.message)
    except Exception as exc:
        log.warning("import of image %s failed: %s", image_id, exc)
        await _import_ended(st, image_id, task_id, f"The import failed: {exc}")
    finally:
        _remove(staged)
        _remove(converted)


async def _import_ended(st: ImageState, image_id: str, task_id: str, message: str) -> None:
    """A failed import: the image back to ``queued`` (``os_glance_failed_import`` set),
    its task ``failure`` with ``message``."""

    def fail(s: Session) -> None:
        core.import_failed(s, image_id, st.store.id)
        tasks.finish(s, task_id, ok=False, message=message)

    await st.db.run(fail)


async def discard_data(st: ImageState, ref: core.DataRef) -> None:
    """After an image row is deleted: its data in the store and in the staging area."""
    if ref.location:
        await delete_data(st.store, ref.location)
    if ref.staged:
        _remove(staged_path(st, ref.image_id))
