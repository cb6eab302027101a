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
from common.httpclient import file_chunks
from diskimage import qemu
from diskimage.inspector import ImageRejected
from diskimage.safety import verify_file
from imagestore import core, tasks
from imagestore.errors import ClientDisconnected, Forbidden, Gone, Invalid, TooLarge, Unavailable
from imagestore.policy import Caller
from imagestore.schemas import DISK_FORMATS
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


def check_web_source(st: ImageState, uri: Any) -> str:
    """A URI the cloud may fetch an image from (``web-download`` and the ``import``
    task): http(s), under a ``web_download_allowed`` prefix; 400/403 otherwise."""
    cfg = st.cfg.imagestore
    if not cfg.web_download:
        raise Invalid("Importing from a URI (web-download) is not enabled on this cloud.")
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        raise Invalid("The image source must be an http or https URI.")
    if not any(uri.startswith(prefix) for prefix in cfg.web_download_allowed.split()):
        raise Forbidden(f"The URI {uri} is not allowed for web-download on this cloud.")
    return uri


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
        return name, check_web_source(st, method.get("uri"))
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


# -- the ``import`` task (POST /v2/tasks) -------------------------------------------------


def _task_source(st: ImageState, task_input: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(URI, source format, image properties) of an ``import`` task's input, or the
    reason it cannot run (as Glance words a missing field)."""
    for key in tasks.IMPORT_INPUT:
        if key not in task_input:
            raise Invalid(f"Input does not contain '{key}' field")
    fmt, props = task_input["import_from_format"], task_input["image_properties"]
    if fmt not in DISK_FORMATS:
        raise Invalid(f"import_from_format {fmt!r} is not a disk format this cloud "
                      f"takes ({', '.join(DISK_FORMATS)}).")
    if not isinstance(props, dict):
        raise Invalid("image_properties must be a JSON object.")
    return check_web_source(st, task_input["import_from"]), fmt, dict(props)


async def run_import_task(st: ImageState, who: Caller, task_id: str,
                          task_input: dict[str, Any]) -> None:
    """The job of an ``import`` task: a new image with ``image_properties`` (disk
    format ``import_from_format`` unless they name another one, which the data is
    converted to; container ``bare`` unless named), its data fetched from
    ``import_from`` and checked like any import. The task ends ``success`` with
    the image's id, or ``failure`` with the reason and no image left behind."""
    if not await st.db.run(lambda s: tasks.start(s, task_id)):
        return
    try:
        uri, fmt, props = _task_source(st, task_input)
        props.setdefault("disk_format", fmt)
        props.setdefault("container_format", "bare")

        def begin(s: Session) -> core.Upload:
            img = core.create_image(s, who, props, st.limits)
            tasks.attach_image(s, task_id, img.id)
            return core.begin_data(s, who, img.id, "queued", "importing", st.limits)

        up = await st.db.run(begin)
    except StrataError as exc:
        reason = exc.message
        await st.db.run(lambda s: tasks.finish(s, task_id, ok=False, message=reason))
        return
    await _import_job(st, up, uri, task_id, source_format=fmt, keep_failed=False)


async def _download(st: ImageState, uri: str, path: Path, limit: int, message: str) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
    async with st.session.get(uri, allow_redirects=False, timeout=timeout) as r:
        if r.status != 200:
            raise Invalid(f"web-download of {uri} answered {r.status}")
        await _write_file(path, r.content.iter_chunked(READ), limit, message)


def _conversion(st: ImageState, source_format: str, disk_format: str,
                container: str | None, asked: bool) -> str | None:
    """The format to convert the data to, if any: the image's own when the data
    comes in another (``asked``), else ``import_convert_to``."""
    target = disk_format if asked else st.cfg.imagestore.import_convert_to
    convertible = container == "bare" and source_format not in ("iso", "ami", "ari", "aki")
    if asked and source_format != disk_format and not convertible:
        raise Invalid(f"Data in {source_format} cannot be converted to {disk_format} "
                      f"for a {container} container.")
    return target if target and target != source_format and convertible else None


async def _import_job(st: ImageState, up: core.Upload, uri: str | None, task_id: str, *,
                      source_format: str | None = None, keep_failed: bool = True) -> None:
    """Fetch (``uri``) or take the staged data, check it, convert it when needed and
    store it: the image ends ``active``. A failure ends the task with the reason;
    the image goes back to ``queued`` (``keep_failed``) or is deleted."""
    image_id = up.image_id
    staged = staged_path(st, image_id)
    converted = staged.with_name(image_id + ".converted")
    limits = st.limits
    try:
        if uri is not None:
            await _download(st, uri, staged, up.limit, limit_message(up, limits))
        disk_format, container = await st.db.run(lambda s: core.image_formats(s, image_id))
        assert disk_format is not None
        fmt = source_format or disk_format
        await verify_file(staged, fmt, container)  # before qemu-img converts it
        source = staged
        target = _conversion(st, fmt, disk_format, container, source_format is not None)
        if target:
            await qemu.convert(staged, fmt, converted, target)
            source, fmt = converted, target
        result = await store_image(st.store, image_id, file_chunks(source, READ), disk_format=fmt,
                                   container_format=container, limit=up.limit,
                                   limit_message=limit_message(up, limits), local_copy=source)
        ok = await _shielded(st.db.run(lambda s: core.finish_import(
            s, image_id, disk_format=fmt, size=result.size, checksum=result.checksum,
            os_hash_algo="sha512", os_hash_value=result.os_hash_value,
            virtual_size=result.virtual_size, store=st.store.id, location=result.location)))
        if not ok:
            await delete_data(st.store, result.location)
            await _import_ended(st, image_id, task_id, "The image was deleted while it "
                                "was being imported.", keep_failed)
        else:
            log.info("image %s imported (%s, %d bytes)", image_id, fmt, result.size)
            await st.db.run(lambda s: tasks.finish(s, task_id, ok=True,
                                                   result={"image_id": image_id}))
    except asyncio.CancelledError:
        await _shielded(_import_ended(st, image_id, task_id,
                                      "The image service stopped during the import.",
                                      keep_failed))
        raise
    except (ImageRejected, qemu.QemuImgError, StrataError) as exc:
        log.warning("import of image %s refused: %s", image_id, exc.message)
        await _import_ended(st, image_id, task_id, exc.message, keep_failed)
    except Exception as exc:
        log.warning("import of image %s failed: %s", image_id, exc)
        await _import_ended(st, image_id, task_id, f"The import failed: {exc}", keep_failed)
    finally:
        _remove(staged)
        _remove(converted)


async def _import_ended(st: ImageState, image_id: str, task_id: str, message: str,
                        keep_failed: bool = True) -> None:
    """A failed import: its task ``failure`` with ``message``; the image back to
    ``queued`` (``os_glance_failed_import`` set), or deleted when the task made it."""

    def fail(s: Session) -> None:
        if keep_failed:
            core.import_failed(s, image_id, st.store.id)
        else:
            core.discard_failed_import(s, image_id)
        tasks.finish(s, task_id, ok=False, message=message)

    await st.db.run(fail)


async def discard_data(st: ImageState, ref: core.DataRef) -> None:
    """After an image row is deleted: its data in the store and in the staging area."""
    if ref.location:
        await delete_data(st.store, ref.location)
    if ref.staged:
        _remove(staged_path(st, ref.image_id))
