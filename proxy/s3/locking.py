"""S3 Object Lock's rules, for the handlers that write, read and delete objects.

A bucket made with ``x-amz-bucket-object-lock-enabled: true`` (or given an
ObjectLockConfiguration while its versioning is enabled) keeps its
configuration as container system metadata (:data:`CONFIG`): lock enabled, and
an optional default retention (mode, days or years). Its versioning cannot be
suspended again.

An object version's lock is the storage node's own lock metadata
(``objectstore.protocol.LOCK_*``: mode, retain-until as seconds since the epoch,
legal hold), so the object servers themselves refuse to delete or overwrite a
locked version, for the Swift API and for admins too. This module checks the
same rules first, to answer as S3 does (AccessDenied) before anything changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from objectstore.protocol import (
    BYPASS_GOVERNANCE,
    LOCK_BYPASS,
    LOCK_HOLD,
    LOCK_KEYS,
    LOCK_MODE,
    LOCK_MODES,
    LOCK_UNTIL,
    lock_holds,
)
from proxy.s3.errors import S3Error
from proxy.s3.request import S3Request

CONFIG = "X-Container-Sysmeta-S3-Object-Lock"
ENABLE_HEADER = "x-amz-bucket-object-lock-enabled"
BYPASS_HEADER = "x-amz-bypass-governance-retention"
BYPASS_MEMO = "locking.bypass"  # S3Request.memo: the caller may override GOVERNANCE
MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
DAY = 86400
LOCKED = "Access Denied because object protected by object lock."


@dataclass(frozen=True)
class LockConfig:
    """A bucket's Object Lock configuration (its default retention, if any)."""

    mode: str | None = None
    days: int | None = None
    years: int | None = None

    def dump(self) -> str:
        return json.dumps({"m": self.mode, "d": self.days, "y": self.years},
                          separators=(",", ":"))

    @classmethod
    def load(cls, raw: str | None) -> LockConfig | None:
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            return cls(doc.get("m"), doc.get("d"), doc.get("y"))
        except (ValueError, AttributeError):
            return None

    def default_until(self, now: float) -> float | None:
        if self.mode is None:
            return None
        if self.days is not None:
            return now + self.days * DAY
        if self.years is not None:
            return now + self.years * 365 * DAY
        return None


def config_of(headers: Mapping[str, str]) -> LockConfig | None:
    for k, v in headers.items():
        if k.lower() == CONFIG.lower():
            return LockConfig.load(v)
    return None


async def bucket_config(req: S3Request) -> LockConfig | None:
    """The bucket's configuration (None: Object Lock is not enabled on it)."""
    info = await req.bucket_info()
    return info.derived("locking.config", config_of) if info.exists else None


# -- dates ---------------------------------------------------------------------------------

def parse_date(text: str, what: str = "x-amz-object-lock-retain-until-date") -> float:
    """An ISO 8601 date and time; InvalidArgument when it is not one."""
    value = text.strip()
    value = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise S3Error("InvalidArgument", "The retain until date must be provided in ISO 8601 "
                      "format", ArgumentName=what, ArgumentValue=text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(seconds * 1000) % 1000:03d}Z"


def future(until: float, what: str) -> float:
    if until <= time.time():
        raise S3Error("InvalidArgument", "The retain until date must be in the future!",
                      ArgumentName=what, ArgumentValue=iso(until))
    return until


def check_mode(mode: str, what: str) -> str:
    if mode not in LOCK_MODES:
        raise S3Error("InvalidArgument", "Unknown wormMode directive.", ArgumentName=what,
                      ArgumentValue=mode)
    return mode


def check_hold(status: str, what: str) -> str:
    if status not in ("ON", "OFF"):
        raise S3Error("InvalidArgument", "Legal Hold must be either of 'ON' or 'OFF'",
                      ArgumentName=what, ArgumentValue=status)
    return status


# -- writes ----------------------------------------------------------------------------------

def has_lock_headers(headers: Mapping[str, str]) -> bool:
    return any(h in headers for h in (MODE_HEADER, UNTIL_HEADER, HOLD_HEADER))


async def write_sysmeta(req: S3Request, *, copy: bool = False) -> dict[str, str]:
    """The lock a new object version gets: the request's ``x-amz-object-lock-*``, else
    the bucket's default retention. A copy never inherits its source's lock."""
    headers = req.headers
    given = has_lock_headers(headers)
    cfg = await bucket_config(req)
    if cfg is None:
        if given:
            raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")
        return {LOCK_MODE: "", LOCK_UNTIL: "", LOCK_HOLD: ""} if copy else {}
    out = {LOCK_MODE: "", LOCK_UNTIL: "", LOCK_HOLD: ""}
    mode, until = headers.get(MODE_HEADER), headers.get(UNTIL_HEADER)
    if (mode is None) != (until is None):
        raise S3Error("InvalidArgument", "x-amz-object-lock-retain-until-date and "
                      "x-amz-object-lock-mode must both be supplied",
                      ArgumentName=MODE_HEADER if mode is None else UNTIL_HEADER)
    if mode is not None and until is not None:
        out[LOCK_MODE] = check_mode(mode, MODE_HEADER)
        out[LOCK_UNTIL] = f"{future(parse_date(until), UNTIL_HEADER):.3f}"
    else:
        default = cfg.default_until(time.time())
        if default is not None and cfg.mode is not None:
            out[LOCK_MODE], out[LOCK_UNTIL] = cfg.mode, f"{default:.3f}"
    hold = headers.get(HOLD_HEADER)
    if hold is not None:
        out[LOCK_HOLD] = check_hold(hold, HOLD_HEADER)
    return out if copy else {k: v for k, v in out.items() if v}


def require_digest(req: S3Request) -> None:
    """A PutObject with Object Lock headers must carry Content-MD5 or a checksum."""
    if has_lock_headers(req.headers) and "Content-MD5" not in req.headers and \
            req.checksum is None:
        raise S3Error("InvalidRequest", "Content-MD5 OR x-amz-checksum- HTTP header is "
                      "required for Put Object requests with Object Lock parameters")


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """An object's lock as GetObject/HeadObject answer it."""
    out = {}
    mode, until = headers.get(LOCK_MODE), headers.get(LOCK_UNTIL)
    if mode in LOCK_MODES and until:
        try:
            out[MODE_HEADER] = str(mode)
            out[UNTIL_HEADER] = iso(float(until))
        except ValueError:
            out.pop(MODE_HEADER, None)
    hold = headers.get(LOCK_HOLD)
    if hold in ("ON", "OFF"):
        out[HOLD_HEADER] = str(hold)
    return out


# -- deletes ---------------------------------------------------------------------------------

def bypass_headers(req: S3Request) -> dict[str, str]:
    """The backend header that lets this request override a GOVERNANCE retention."""
    return {LOCK_BYPASS: BYPASS_GOVERNANCE} if req.memo.get(BYPASS_MEMO) else {}


def refuse_locked(req: S3Request, headers: Mapping[str, str]) -> None:
    """AccessDenied when the object version with ``headers`` may not be deleted."""
    holds = lock_holds(headers, time.time())
    if holds is None or (holds == "GOVERNANCE" and req.memo.get(BYPASS_MEMO)):
        return
    raise S3Error("AccessDenied", LOCKED)


async def lock_segments(req: S3Request, container: str, names: list[str],
                        headers: Mapping[str, str]) -> None:
    """Give a completed upload's parts (in ``container``) the lock its object got in
    ``headers``, so that the parts cannot go while the object must stay (the object
    servers refuse deleting them too)."""
    lock = {k: v for k, v in headers.items() if k in LOCK_KEYS and v}
    if not lock:
        return
    for name in names:
        r = await req.call("POST", container, name, headers=lock)
        await r.close()
        if not r.ok:
            raise S3Error("InternalError", "The upload's parts could not be locked.")
