"""The storage node's protocol: what the proxy and the storage nodes agree on.

``docs/storage-protocol.md`` describes the protocol; this module holds the
names and shapes both sides must spell the same way: the ring files, the
node's URLs, the headers that travel only between proxy and nodes
(``X-Backend-*``), the headers an object stores, and the size up to which a
body travels in one piece.

It is the storage node's client surface: the proxy imports this module and
nothing else of ``objectstore``, and the node's servers and daemons use the
same names, so neither side can drift from the other. It is a leaf: it
imports nothing from the storage node (or the proxy) itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from common.config import StrataConfig

# -- rings ----------------------------------------------------------------------------------

RING_TYPES = ("account", "container", "object")


def ring_file(cfg: StrataConfig, kind: str) -> Path:
    """The runtime ring of ``kind`` (one of :func:`ring_kinds`): ``<ring_dir>/<kind>.ring.gz``."""
    return cfg.ring_path / f"{kind}.ring.gz"


def object_ring(policy: int) -> str:
    """The ring kind of storage policy ``policy``'s objects: ``object`` for policy 0
    (Swift's ``object.ring.gz``), ``object-<N>`` for the others."""
    return "object" if policy == 0 else f"object-{policy}"


def datadir(policy: int) -> str:
    """Where a device keeps policy ``policy``'s objects: ``objects``, ``objects-<N>``."""
    return OBJECTS if policy == 0 else f"{OBJECTS}-{policy}"


def ring_kinds(cfg: StrataConfig) -> list[str]:
    """Every ring a cluster runs on: accounts, containers, each policy's objects."""
    return ["account", "container", *(object_ring(p.index)
                                      for p in cfg.objectstore.policies())]


# -- URLs -----------------------------------------------------------------------------------

OBJECTS, CONTAINERS, ACCOUNTS = "objects", "containers", "accounts"

# The routes a node serves (aiohttp patterns); names arrive percent-encoded.
OBJECT_ROUTE = "/objects/{device}/{part}/{account}/{container}/{obj:.+}"
CONTAINER_ROUTE = "/containers/{device}/{part}/{account}/{container}"
CONTAINER_ROW_ROUTE = CONTAINER_ROUTE + "/{obj:.+}"  # object rows, from object servers
ACCOUNT_ROUTE = "/accounts/{device}/{part}/{account}"
ACCOUNT_ROW_ROUTE = ACCOUNT_ROUTE + "/{container}"  # container rows, from container servers
REPLICATE_PREFIX = "/replicate"  # node to node: /replicate/<objects|containers|accounts>/...


def node_path(kind: str, device: str, part: int | str, account: str,
              container: str | None = None, obj: str | None = None) -> str:
    """``/<kind>/<device>/<part>/<account>[/<container>[/<object>]]``, percent-encoded
    (an object name keeps its ``/``); ``kind`` is ``objects``, ``containers`` or
    ``accounts``. Send it as it is: never normalized (``a/../b`` is a name)."""
    # A device name is nearly always plain (``sdb``, ``n1d1``): quote() costs more
    # than the rest of the path, and the proxy builds one path per replica.
    dev = device if device.isascii() and device.isalnum() else quote(device, safe="")
    parts = [kind, dev, str(part), quote(account, safe="")]
    if container is not None:
        parts.append(quote(container, safe=""))
    if obj is not None:
        parts.append(quote(obj, safe="/"))
    return "/" + "/".join(parts)


# -- headers --------------------------------------------------------------------------------

# Headers only the proxy and the nodes send each other (lower case prefix): the
# proxy drops every one of them from client requests.
BACKEND_PREFIX = "x-backend-"
# On an object's GET/HEAD, and on the 404 of a deleted one and the 409 of a write
# older than what is there: the timestamp of the newest file the node holds.
BACKEND_TIMESTAMP = "X-Backend-Timestamp"
BACKEND_DATA_TIMESTAMP = "X-Backend-Data-Timestamp"
# On the 404 of a deleted account or container DB: when it was deleted.
BACKEND_DELETE_TIMESTAMP = "X-Backend-Delete-Timestamp"
# The container replica an object server tells about a write (one per object replica).
CONTAINER_HOST = "X-Backend-Container-Host"
CONTAINER_DEVICE = "X-Backend-Container-Device"
CONTAINER_PARTITION = "X-Backend-Container-Partition"
# The account replica a container server tells about a container PUT or DELETE.
ACCOUNT_HOST = "X-Backend-Account-Host"
ACCOUNT_DEVICE = "X-Backend-Account-Device"
ACCOUNT_PARTITION = "X-Backend-Account-Partition"
# What an object lists as in its container when not its own ETag, size or type
# (``etag``, ``size``, ``content-type`` after the prefix, lower case): kept with
# the object as sysmeta, or for one write only as a backend header.
OVERRIDE_SYSMETA = "x-object-sysmeta-container-update-override-"
OVERRIDE_BACKEND = "x-backend-container-update-override-"
# The listed ETag kept with the object; Swift's SLO and symlink middlewares add
# their parameters to it (``<etag>; slo_etag=...; symlink_target=...``), and the
# proxy turns them into listing keys (``slo_etag``, ``symlink_path``).
OVERRIDE_ETAG = "X-Object-Sysmeta-Container-Update-Override-Etag"
# The storage policy (its index) of a container and of the objects in it: sent by the
# proxy with every object request and with a container PUT that names a policy; kept
# in the container's metadata, returned on its HEAD/GET, and passed on to the account.
POLICY_INDEX = "X-Backend-Storage-Policy-Index"
# With a container PUT: the policy the container gets if it is new and none is named.
POLICY_DEFAULT = "X-Backend-Storage-Policy-Default"
# An object GET/HEAD/POST that may reach an object past its X-Delete-At (Swift's
# allow_open_expired, asked for by a client with X-Open-Expired: true).
OPEN_EXPIRED = "X-Backend-Open-Expired"
# Object replication (node to node): a pushed file's metadata length.
REPLICATION = "X-Backend-Replication"
METADATA_LENGTH = "X-Backend-Metadata-Length"

# Prefixes of the metadata every kind stores (lower case).
OBJECT_META_PREFIXES = ("x-object-meta-", "x-object-sysmeta-")
SYSMETA_PREFIXES = ("x-account-sysmeta-", "x-container-sysmeta-", "x-object-sysmeta-")


def meta_prefixes(kind: str) -> tuple[str, str]:
    """``x-<kind>-meta-`` and ``x-<kind>-sysmeta-`` (kind: account|container|object)."""
    return f"x-{kind}-meta-", f"x-{kind}-sysmeta-"


# Headers a POST replaces (Swift's object-server ``allowed_headers``), besides
# X-Object-Meta-*; everything else (size, ETag, sysmeta) stays with the data.
POST_HEADERS = frozenset({
    "content-disposition", "content-encoding", "x-delete-at", "x-object-manifest",
    "cache-control", "content-language", "expires", "x-robots-tag",
})
# Stored with an object and returned on GET/HEAD, besides X-Object-(Sys)Meta-*.
STORED_HEADERS = frozenset({
    *POST_HEADERS, "x-static-large-object", "x-symlink-target", "x-symlink-target-account",
})


def valid_utf8(text: str) -> bool:
    """Whether header text was UTF-8 as it came (servers decode other bytes to
    surrogates): names and values a node stores must be (Swift's ``check_utf8``)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_stored(key: str) -> bool:
    """Whether an object keeps header ``key`` (lower case) and returns it on GET/HEAD."""
    return key.startswith(OBJECT_META_PREFIXES) or key in STORED_HEADERS


# -- object locks ---------------------------------------------------------------------------

# An object under a lock (S3 Object Lock; the proxy's S3 front sets these) keeps
# them as system metadata. While the lock holds (a legal hold ``ON``, or a
# retention mode with its date still ahead) the object server refuses to delete
# the object or to write over it, whoever asks: the rule lives in the store, so
# no API, admin or reseller gets around it. A POST may change them within
# :func:`lock_change`'s rules, and a POST that does not name them keeps them.
LOCK_MODE = "X-Object-Sysmeta-Lock-Mode"  # GOVERNANCE or COMPLIANCE ("" for none)
LOCK_UNTIL = "X-Object-Sysmeta-Lock-Until"  # retain until: seconds since the epoch
LOCK_HOLD = "X-Object-Sysmeta-Lock-Legal-Hold"  # ON or OFF
LOCK_KEYS = (LOCK_MODE, LOCK_UNTIL, LOCK_HOLD)
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
# On a write or delete: the copy it replaces lives on elsewhere (the proxy copied
# it first, as versioning does); the value is that copy's data timestamp, and a
# locked copy of any other timestamp is still refused.
LOCK_MOVED = "X-Backend-Lock-Moved"
# On a write, delete or POST: the caller may override a GOVERNANCE retention.
LOCK_BYPASS = "X-Backend-Lock-Bypass"
BYPASS_GOVERNANCE = "governance"
# On a write: what the node must hold for it to go ahead, else 412: the data
# timestamp of the live object it replaces, or ``none`` (no live object).
EXPECT_DATA = "X-Backend-Expect-Data"
# On a PUT: the name of a system metadata header (``X-Object-Sysmeta-*``) whose value
# on the live object the write replaces the node answers in REPLACED_VALUE (the S3
# front learns which multipart upload an overwrite superseded without a HEAD first).
REPORT_REPLACED = "X-Backend-Report-Replaced"
REPLACED_VALUE = "X-Backend-Replaced-Value"
# On a DELETE (``true``): refuse with 412 when the live object is a Static Large Object
# manifest, which the caller deletes with its segments instead (the S3 front's
# DeleteObject learns that without a HEAD first).
EXPECT_PLAIN = "X-Backend-Expect-Plain"
# The backend headers a proxy-made request may carry to the object servers.
OBJECT_BACKEND_HEADERS = frozenset(h.lower() for h in (LOCK_MOVED, LOCK_BYPASS, EXPECT_DATA,
                                                       REPORT_REPLACED, EXPECT_PLAIN))


# Swift's ``config_true_value``: what a header, parameter or setting says for yes.
TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})


def is_true(value: str | None) -> bool:
    """Does ``value`` (a header, parameter or setting) mean yes, as Swift reads it?"""
    return (value or "").strip().lower() in TRUE_VALUES


def is_manifest(meta: Mapping[str, Any]) -> bool:
    """Whether an object's metadata make it a Static Large Object manifest."""
    for key, value in meta.items():
        if key.lower() == "x-static-large-object":
            return is_true(str(value))
    return False


def replaced_value(asked: str | None, replaced: Mapping[str, Any]) -> str | None:
    """What a PUT's REPORT_REPLACED (``asked``) gets from the metadata of the live
    object it replaced (``replaced``; empty when there was none): the value of that
    system metadata header, if the object had it."""
    if not asked or not asked.lower().startswith("x-object-sysmeta-"):
        return None
    want = asked.lower()
    for key, value in replaced.items():
        if key.lower() == want:
            return str(value) or None
    return None


def lock_holds(meta: Mapping[str, Any], now: float) -> str | None:
    """What keeps an object with metadata ``meta`` locked at ``now``: ``hold`` (a legal
    hold), ``COMPLIANCE`` or ``GOVERNANCE`` (a retention not yet over), or None."""
    if meta.get(LOCK_HOLD) == "ON":
        return "hold"
    mode = meta.get(LOCK_MODE)
    if mode in LOCK_MODES and _until(meta) > now:
        return str(mode)
    return None


def _until(meta: Mapping[str, Any]) -> float:
    try:
        return float(meta.get(LOCK_UNTIL) or 0)
    except ValueError:
        return 0.0


def lock_change(current: Mapping[str, Any], wanted: Mapping[str, Any], now: float,
                bypass: bool) -> str | None:
    """Why a POST may not change an object's lock from ``current`` to ``wanted`` (the
    metadata it would have), or None when it may: a retention that holds is never
    shortened, removed or turned from COMPLIANCE to GOVERNANCE (a GOVERNANCE one may
    be, with ``bypass``); a legal hold may be set or lifted."""
    mode = current.get(LOCK_MODE)
    if mode not in LOCK_MODES or _until(current) <= now:
        return None
    new_mode, new_until = wanted.get(LOCK_MODE), _until(wanted)
    weaker = new_mode not in LOCK_MODES or new_until < _until(current) or (
        mode == "COMPLIANCE" and new_mode != "COMPLIANCE")
    if not weaker or (mode == "GOVERNANCE" and bypass):
        return None
    return f"the object's {mode} retention holds until {_until(current):.0f}"


# -- bodies ---------------------------------------------------------------------------------

# A body up to this size travels in one piece: the proxy reads a PUT's body whole
# and sends it with its Content-Length, the node reads it whole and writes it in
# one trip to its thread pool, and the proxy relays a GET's answer in one write.
# Larger bodies are streamed in 1 MiB chunks on both sides.
SMALL_BODY = 256 * 1024
