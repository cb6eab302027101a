"""Values in EC2's forms: times, sizes, the native services' states in EC2's words."""

from __future__ import annotations

from datetime import UTC, datetime


def aws_time(native: str | None) -> str | None:
    """A native service's time (``2026-12-07T10:00:00Z``, ``...T10:00:00.123456``, with
    or without a zone) as EC2 writes times: ``2026-12-07T10:00:00.000Z`` (UTC)."""
    if not native:
        return None
    try:
        when = datetime.fromisoformat(native.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def now_time() -> str:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
