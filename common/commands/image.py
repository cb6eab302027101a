"""``strata image upload``: an operator's shortcut to create an image and send its data.

The real clients (``openstack image create``, ``glance image-create``) are the
user interface; this command is for operators seeding a cloud: it reads a file
or standard input, shows a progress bar, and reports the image's status and
checksums. Credentials come from the ``OS_*`` environment (an openrc file) when
set, else from this Strata's admin openrc (``<var>/openrc``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

from common.cli import Command, CommandError, Context
from common.httpclient import RemoteError
from imagestore.client import ImageClient, error_message

CHUNK = 1 << 20
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")


class Progress:
    """A one-line progress bar on stderr (bytes, percent when the total is known, rate)."""

    def __init__(self, total: int | None, stream: Any = None, width: int = 30) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            self.draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        rate = self.done / elapsed / 1e6
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * self.width)
            return (f"[{bar:<{self.width}}] {frac * 100:5.1f}% "
                    f"{self.done / 1e6:,.1f}/{self.total / 1e6:,.1f} MB {rate:,.1f} MB/s")
        return f"{self.done / 1e6:,.1f} MB sent, {rate:,.1f} MB/s"

    def draw(self) -> None:
        if self.stream.isatty():
            self.stream.write("\r" + self.line())
        else:  # a log, not a terminal: a line now and then
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write(("\r" if self.stream.isatty() else "") + self.line() + "\n")
        self.stream.flush()


def _openrc_values(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, _, raw = line[len("export "):].partition("=")
            parts = shlex.split(raw)
            values[key] = parts[0] if parts else ""
    return values


def credentials(ctx: Context) -> dict[str, str]:
    """OS_* settings: the environment's when it has OS_AUTH_URL, else <var>/openrc."""
    if os.environ.get("OS_AUTH_URL"):
        return {k: v for k, v in os.environ.items() if k.startswith("OS_")}
    rc = ctx.config().var_path / "openrc"
    if not rc.exists():
        raise CommandError(f"no OS_AUTH_URL in the environment and no {rc}: source an openrc "
                           "file, or run `strata up` first")
    return _openrc_values(rc)


async def _token_and_endpoint(session: aiohttp.ClientSession,
                              os_env: dict[str, str]) -> tuple[str, str]:
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": os_env.get("OS_USERNAME", ""),
            "domain": {"name": os_env.get("OS_USER_DOMAIN_NAME", "Default")},
            "password": os_env.get("OS_PASSWORD", "")}}},
        "scope": {"project": {"name": os_env.get("OS_PROJECT_NAME", ""),
                              "domain": {"name": os_env.get("OS_PROJECT_DOMAIN_NAME",
                                                            "Default")}}}}}
    url = os_env["OS_AUTH_URL"].rstrip("/") + "/auth/tokens"
    try:
        async with session.post(url, json=body) as r:
            if r.status != 201:
                raise CommandError(f"identity at {url} refused the credentials ({r.status}): "
                                   "check OS_USERNAME/OS_PASSWORD/OS_PROJECT_NAME")
            token = r.headers["X-Subject-Token"]
            catalog = (await r.json())["token"].get("catalog", [])
    except aiohttp.ClientError as exc:
        raise CommandError(f"cannot reach identity at {url}: {exc}; is Strata up "
                           "(`strata status`)?") from None
    region = os_env.get("OS_REGION_NAME")
    for service in catalog:
        if service.get("type") != "image":
            continue
        for ep in service.get("endpoints", []):
            if ep.get("interface") == "public" and (not region or ep.get("region") == region):
                return token, str(ep["url"]).rstrip("/")
    raise CommandError("the catalog has no image endpoint: is the image service enabled "
                       "([imagestore] enabled = true)?")


async def _read_chunks(source: BinaryIO, progress: Progress,
                       on_chunk: Callable[[bytes], None]) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    while True:
        chunk = await loop.run_in_executor(None, source.read, CHUNK)
        if not chunk:
            return
        on_chunk(chunk)
        progress.update(len(chunk))
        yield chunk


def _failure(exc: RemoteError) -> str:
    """What the image service said (its status and message), or why it could not."""
    if exc.answered is None:
        return exc.message
    return f"{exc.answered}: {(error_message(exc) or exc.body)[:500]}"


async def send_image(images: ImageClient, spec: dict[str, Any], source: BinaryIO,
                     total: int | None) -> dict[str, Any]:
    """Create an image from ``spec`` and stream ``source`` into it with a progress bar;
    the image as the service shows it afterwards (its checksum checked)."""
    try:
        image = await images.create(spec)
    except RemoteError as exc:
        raise CommandError(f"creating the image failed: {_failure(exc)}") from None
    image_id = image["id"]
    print(f"image {image_id} ({spec.get('name')}) created; uploading", file=sys.stderr)
    progress = Progress(total)
    md5 = hashlib.md5()
    try:
        await images.upload(image_id, _read_chunks(source, progress, md5.update))
    except RemoteError as exc:
        raise CommandError(f"uploading the data of image {image_id} failed: "
                           f"{_failure(exc)}; the image stays queued: "
                           f"retry, or `openstack image delete {image_id}`") from None
    finally:
        progress.finish()
    try:
        image = await images.show(image_id)
    except RemoteError as exc:
        raise CommandError(f"image {image_id}: reading it back failed: "
                           f"{_failure(exc)}") from None
    if image.get("checksum") and image["checksum"] != md5.hexdigest():
        raise CommandError(f"image {image_id}: the service stored checksum "
                           f"{image['checksum']} but {md5.hexdigest()} was sent")
    return image


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=30))


def _client(session: aiohttp.ClientSession, endpoint: str, token: str) -> ImageClient:
    # no read timeout: the service checks a large image before it answers
    return ImageClient(endpoint, token, session=session, conn_timeout=30, read_timeout=None)


async def upload(ctx: Context, source: BinaryIO, total: int | None) -> int:
    a = ctx.args
    os_env = credentials(ctx)
    async with _session() as session:
        token, endpoint = await _token_and_endpoint(session, os_env)
        spec: dict[str, Any] = {"name": a.name, "disk_format": a.disk_format,
                                "container_format": a.container_format,
                                "visibility": a.visibility}
        if a.min_disk is not None:
            spec["min_disk"] = a.min_disk
        if a.protected:
            spec["protected"] = True
        for prop in a.property:
            key, sep, value = prop.partition("=")
            if not sep or not key:
                raise CommandError(f"--property {prop!r}: expected KEY=VALUE")
            spec[key] = value
        image = await send_image(_client(session, endpoint, token), spec, source, total)
    print(f"id: {image['id']}\nname: {image.get('name')}\nstatus: {image.get('status')}\n"
          f"size: {image.get('size')}\nvirtual_size: {image.get('virtual_size')}\n"
          f"checksum: {image.get('checksum')}\n"
          f"{image.get('os_hash_algo')}: {image.get('os_hash_value')}")
    return 0


async def upload_tiny(ctx: Context) -> int:
    """Build the tiny guest if needed, then upload tiny-kernel, tiny-ramdisk and tiny."""
    from compute.tinyguest import TinyGuestError, build

    a = ctx.args
    explicit = os.environ.get("STRATA_TINY_CACHE")  # e.g. one cache shared by test clouds
    cache = Path(explicit) if explicit else ctx.config().var_path / "cache" / "tinyguest"
    try:
        guest = await asyncio.to_thread(
            build, cache, log=lambda msg: print(f"strata: {msg}", file=sys.stderr))
    except TinyGuestError as exc:
        raise CommandError(str(exc)) from None
    os_env = credentials(ctx)
    prefix = a.name
    async with _session() as session:
        token, endpoint = await _token_and_endpoint(session, os_env)
        images = _client(session, endpoint, token)
        try:
            found = {n: await images.list(name=n)
                     for n in (prefix, f"{prefix}-kernel", f"{prefix}-ramdisk")}
        except RemoteError as exc:
            raise CommandError(f"listing images failed: {_failure(exc)}") from None
        if found[prefix] and not a.force:
            print(f"image {prefix} exists already ({found[prefix][0]['id']}); "
                  "--force uploads another")
            return 0
        ids = {}
        for kind, path, fmt in (("kernel", guest.kernel, "aki"),
                                ("ramdisk", guest.ramdisk, "ari")):
            spec = {"name": f"{prefix}-{kind}", "disk_format": fmt, "container_format": fmt,
                    "visibility": a.visibility, "strata_tiny_build": guest.key}
            with path.open("rb") as fh:
                image = await send_image(images, spec, fh,
                                         path.stat().st_size)
            ids[kind] = image["id"]
        spec = {"name": prefix, "disk_format": "ami", "container_format": "ami",
                "visibility": a.visibility, "kernel_id": ids["kernel"],
                "ramdisk_id": ids["ramdisk"], "os_command_line": guest.cmdline,
                "hw_disk_bus": "virtio", "strata_tiny_build": guest.key}
        with guest.disk.open("rb") as fh:
            image = await send_image(images, spec, fh,
                                     guest.disk.stat().st_size)
    print(f"{prefix}: {image['id']} (kernel {ids['kernel']}, ramdisk {ids['ramdisk']}), "
          f"status {image.get('status')}")
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = sub.add_parser(
        "upload", help="create an image and upload its data from a file or stdin",
        description="Create an image in the image service and stream its data to it, with a "
                    "progress bar. FILE '-' reads standard input (e.g. from a pipe), so the "
                    "size, and so the percentage, is not known ahead.")
    up.add_argument("file", metavar="FILE", help="the image file, or - for standard input")
    up.add_argument("--name", help="image name (default: the file's name)")
    up.add_argument("--disk-format", required=True, choices=DISK_FORMATS,
                    help="format of the bytes; checked by the service before the image "
                         "becomes active")
    up.add_argument("--container-format", default="bare", choices=CONTAINER_FORMATS,
                    help="container format (default: bare)")
    up.add_argument("--visibility", default="private",
                    choices=("private", "shared", "community", "public"),
                    help="who may use the image (public needs an admin; default: private)")
    up.add_argument("--min-disk", type=int, help="smallest disk (GiB) to boot it on")
    up.add_argument("--protected", action="store_true", help="refuse deletion")
    up.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra property, e.g. hw_disk_bus=scsi (repeatable)")
    tiny = sub.add_parser(
        "tiny", help="build the tiny test guest and upload it (tiny, tiny-kernel, "
                     "tiny-ramdisk)",
        description="Build (once; cached under <var>/cache/tinyguest) a tiny Linux guest from "
                    "Debian packages: a distribution kernel and a busybox initramfs that gets "
                    "its address by DHCP, reads the config drive or the metadata service, "
                    "installs the SSH key (dropbear), runs user_data scripts and prints "
                    "STRATA-TINY-READY <uuid> on its console. Upload it as three images: "
                    "NAME-kernel (aki), NAME-ramdisk (ari) and NAME (ami, with kernel_id and "
                    "ramdisk_id), so `openstack server create --image NAME` boots it.")
    tiny.add_argument("--name", default="tiny", help="image name (default: tiny)")
    tiny.add_argument("--visibility", default="public",
                      choices=("private", "shared", "community", "public"),
                      help="who may boot it (default: public, which needs an admin)")
    tiny.add_argument("--force", action="store_true",
                      help="upload even when an image of that name exists")


def _run(ctx: Context) -> int:
    a = ctx.args
    if a.action == "tiny":
        return asyncio.run(upload_tiny(ctx))
    if a.file == "-":
        a.name = a.name or "stdin"
        return asyncio.run(upload(ctx, sys.stdin.buffer, None))
    path = Path(a.file)
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    a.name = a.name or path.name
    with path.open("rb") as f:
        return asyncio.run(upload(ctx, f, path.stat().st_size))


COMMANDS = (Command(
    "image", "upload images to the image service (or the tiny test guest)",
    "Operator conveniences for the image service; the real `openstack image` and `glance` "
    "clients remain the user interface. Credentials: the OS_* environment when set (source an "
    "openrc file), else this Strata's admin openrc.",
    _run, _configure,
    examples="  strata image upload cirros.qcow2 --disk-format qcow2 --name cirros\n"
             "  curl -s https://example.com/disk.raw | strata image upload - --disk-format raw "
             "--name from-pipe\n"
             "  strata image tiny                  # build and upload the tiny test guest"),)
