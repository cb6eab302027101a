"""Updates that could not be delivered, kept on disk for the updater daemon.

When a server cannot tell another node about a change (an object server
updating its container replicas, a container server updating its account
replica), it records the update under its device and answers its own client
all the same; the updater retries the record until it is delivered, then
removes the file.

On disk: ``<device>/async_pending/<suffix>/<hash>-<timestamp>-<unique>``, one
JSON object per file, written atomically (``<device>/tmp/`` + fsync + rename +
fsync of the directory), so a reader never sees a partial record. ``hash`` is
an MD5 of the record's target (see :func:`record_hash`), ``suffix`` its last
three hex digits, ``timestamp`` the record's ``timestamp`` (or now), and
``unique`` a random token so two records never overwrite each other.

Record format (a JSON object, version 1):

``version``
    ``1``; added when missing. Readers refuse versions they do not know.
``kind``
    what to replay:

    * ``"container-rows"`` -- object rows for a container server:
      ``host`` (``ip:port``), ``device``, ``partition``, ``account``,
      ``container`` and ``rows`` (a list of ``{"name", "created_at", "size",
      "content_type", "etag", "deleted"}``), replayed as
      ``POST /containers/<device>/<partition>/<account>/<container>?batch``.
    * ``"account-update"`` -- a container row for an account server:
      ``host``, ``device``, ``partition``, ``account``, ``container``,
      ``method`` (``"PUT"``), ``path`` (the request path, percent-encoded,
      e.g. ``/accounts/sda/12/AUTH_x/photos``) and ``headers`` (a JSON object:
      ``X-Put-Timestamp``, ``X-Delete-Timestamp``, ``X-Object-Count``,
      ``X-Bytes-Used``, ``X-Timestamp``), replayed as ``method host+path``.
``timestamp``
    optional; the time of the change (normalized), used in the file name.

Any other key is kept as given.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import timestamp as tsmod
from common.atomicfile import write_atomic

__all__ = ["RECORD_VERSION", "iter_async_pending", "read_async_pending", "record_hash",
           "write_async_pending"]

RECORD_VERSION = 1
ASYNC_DIR = "async_pending"
TMP_DIR = "tmp"


def record_hash(record: dict[str, Any]) -> str:
    """Hex MD5 of the record's target (kind, host, device, partition, account, container)."""
    key = "\n".join(str(record.get(k, "")) for k in
                    ("kind", "host", "device", "partition", "account", "container"))
    return hashlib.md5(key.encode("utf-8"), usedforsecurity=False).hexdigest()


def write_async_pending(device_path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` durably under ``device_path/async_pending``; return its path.

    Blocking (fsync): call it through ``NodeContext.run``.
    """
    record = dict(record)
    record.setdefault("version", RECORD_VERSION)
    ts = str(record.get("timestamp") or tsmod.now())
    digest = record_hash(record)
    target_dir = device_path / ASYNC_DIR / digest[-3:]
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = device_path / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / f"{digest}-{ts}-{secrets.token_hex(4)}"
    data = json.dumps(record, separators=(",", ":"), sort_keys=True).encode("utf-8")
    write_atomic(final, data, tmp_dir=tmp_dir)
    return final


def read_async_pending(path: Path) -> dict[str, Any]:
    """The record in ``path``; ValueError when it is not a record this code knows."""
    record = json.loads(path.read_bytes())
    if not isinstance(record, dict):
        raise ValueError(f"{path}: not a JSON object")
    if record.get("version") != RECORD_VERSION:
        raise ValueError(f"{path}: unknown record version {record.get('version')!r}")
    return record


def iter_async_pending(device_path: Path) -> Iterator[Path]:
    """Every record file under ``device_path/async_pending``, oldest suffix dir first."""
    root = device_path / ASYNC_DIR
    if not root.is_dir():
        return
    for suffix in sorted(root.iterdir()):
        if not suffix.is_dir():
            continue
        for entry in sorted(suffix.iterdir()):
            if entry.is_file():
                yield entry
