"""The policy of a browser-based upload (POST Object): a base64 JSON document whose
``expiration`` bounds its life and whose ``conditions`` every field of the form
must meet, as the S3 API reference words them:

- ``{"field": "value"}`` and ``["eq", "$field", "value"]``: the field is exactly that;
- ``["starts-with", "$field", "prefix"]``: it starts so (``""``: anything; for
  Content-Type each comma-separated type must);
- ``["content-length-range", min, max]``: the file's size in bytes.

Field names are case-insensitive. Every field of the form must be named by a
condition, except the signature's own fields, ``policy``, ``file`` and those
starting ``x-ignore-``. Pure functions: the front checks the signature first
(``postobject``), then :func:`decode` and :func:`check`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from proxy.s3.errors import S3Error

# Fields no condition needs to name.
EXEMPT = frozenset({"policy", "signature", "x-amz-signature", "awsaccesskeyid", "file"})


class Condition(NamedTuple):
    op: str  # "eq" or "starts-with"
    field: str  # lower-case, without the "$"
    value: str
    words: str  # the condition as the policy gave it (for the error's message)


@dataclass(frozen=True)
class PostPolicy:
    expiration: float  # seconds since the epoch
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None  # content-length-range's (min, max)


def _invalid(what: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {what}")


def _failed(words: str) -> S3Error:
    return S3Error("AccessDenied", f"Invalid according to Policy: Policy Condition failed: "
                                   f"{words}")


def _expiration(value: Any) -> float:
    if not isinstance(value, str):
        raise _invalid("Policy missing expiration.")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: '{value}'") from None
    if when.tzinfo is None:
        raise _invalid(f"Invalid 'expiration' value: '{value}'")
    return when.timestamp()


def _length(value: Any, words: str) -> int:
    if isinstance(value, bool):
        raise _invalid(f"Invalid content-length-range: {words}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise _invalid(f"Invalid content-length-range: {words}")


def _field(name: Any, words: str) -> str:
    if not isinstance(name, str) or not name.startswith("$") or len(name) < 2:
        raise _invalid(f"Invalid Condition: {words}")
    return name[1:].lower()


def decode(policy_b64: str) -> PostPolicy:
    """The policy document; InvalidPolicyDocument when it is not one."""
    try:
        doc = json.loads(base64.b64decode(policy_b64.encode(), validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON.")
    expiration = _expiration(doc.get("expiration"))
    raw = doc.get("conditions")
    if not isinstance(raw, list):
        raise _invalid("Policy missing conditions.")
    conditions: list[Condition] = []
    length_range: tuple[int, int] | None = None
    for item in raw:
        words = json.dumps(item)
        if isinstance(item, dict):
            if len(item) != 1:
                raise _invalid(f"Invalid Condition: {words}")
            (name, value), = item.items()
            if not isinstance(value, str):
                raise _invalid(f"Invalid Condition: {words}")
            conditions.append(Condition("eq", str(name).lower(), value, words))
            continue
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str):
            raise _invalid(f"Invalid Condition: {words}")
        op = item[0].lower()
        if op == "content-length-range":
            low, high = _length(item[1], words), _length(item[2], words)
            if low > high:
                raise _invalid(f"Invalid content-length-range: {words}")
            length_range = (low, high)
        elif op in ("eq", "starts-with"):
            if not isinstance(item[2], str):
                raise _invalid(f"Invalid Condition: {words}")
            conditions.append(Condition(op, _field(item[1], words), item[2], words))
        else:
            raise _invalid(f"Invalid Condition: {words}")
    return PostPolicy(expiration, tuple(conditions), length_range)


def _meets(cond: Condition, value: str) -> bool:
    if cond.op == "eq":
        return value == cond.value
    if cond.field == "content-type" and cond.value:
        return all(t.strip().startswith(cond.value) for t in value.split(","))
    return value.startswith(cond.value)


def check(policy: PostPolicy, fields: Mapping[str, str], bucket: str, now: float) -> None:
    """AccessDenied unless the form (``fields``, lower-case names, as sent) meets
    ``policy`` at ``now`` (the file's size is checked by :func:`check_size`)."""
    if now > policy.expiration:
        raise S3Error("AccessDenied", "Invalid according to Policy: Policy expired.")
    named = {"bucket"}
    for cond in policy.conditions:
        named.add(cond.field)
        value = bucket if cond.field == "bucket" else fields.get(cond.field)
        if value is None:
            if cond.op == "starts-with" and cond.value == "":
                continue  # anything, nothing included
            raise _failed(cond.words)
        if not _meets(cond, value):
            raise _failed(cond.words)
    for name in fields:
        if name not in EXEMPT and name not in named and not name.startswith("x-ignore-"):
            raise S3Error("AccessDenied", f"Invalid according to Policy: Extra input fields: "
                                          f"{name}")


def check_size(policy: PostPolicy | None, size: int, *, final: bool) -> None:
    """EntityTooLarge / EntityTooSmall when ``size`` (``final``: the whole file's, else
    what has arrived so far) is outside the policy's content-length-range."""
    if policy is None or policy.length_range is None:
        return
    low, high = policy.length_range
    if size > high:
        raise S3Error("EntityTooLarge", ProposedSize=str(size), MaxSizeAllowed=str(high))
    if final and size < low:
        raise S3Error("EntityTooSmall", ProposedSize=str(size), MinSizeAllowed=str(low))
