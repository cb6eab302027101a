"""Turn a client request into a typed Swift operation, checking Swift's constraints.

Parsing is separate from dispatch so that it can be tested alone: every name
and metadata rule is applied here, before any storage node is asked anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from multidict import CIMultiDict

from common.config import ProxyConfig
from common.http import ApiError
from objectstore.protocol import is_true as is_true  # re-exported for the features
from objectstore.protocol import valid_utf8
from proxy.errors import fail

MAX_ACCOUNT_NAME = 256
MAX_CONTAINER_NAME = 256
MAX_OBJECT_NAME = 1024
MAX_META_NAME = 128
MAX_META_VALUE = 256
MAX_HEADER_SIZE = 8192  # Swift's largest header value
VERSIONS = ("v1", "v1.0")


@dataclass(frozen=True)
class SwiftPath:
    version: str
    account: str
    container: str | None = None
    obj: str | None = None

    @property
    def kind(self) -> str:
        if self.obj is not None:
            return "object"
        if self.container is not None:
            return "container"
        return "account"


INVALID_PATH = "Invalid UTF8 or contains NULL"


def _decode(segment: str) -> str:
    """One path segment, %-decoded; 412 for invalid UTF-8 (escaped or raw) or a NUL."""
    try:
        text = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise fail(412, INVALID_PATH) from None
    if "\x00" in text or not valid_utf8(text):
        raise fail(412, INVALID_PATH)
    return text


def parse_path(raw_path: str) -> SwiftPath:
    """``/v1/<account>[/<container>[/<object>]]`` from the raw (still %-encoded) path.

    Splitting before decoding means a ``%2F`` inside a container name is a bad
    container name (400), not a silent move into an object path.
    """
    raw = raw_path.split("?", 1)[0]
    parts = raw.split("/", 4)
    if len(parts) < 2 or parts[0] != "" or parts[1] not in VERSIONS:
        raise fail(404)
    if len(parts) < 3 or not parts[2]:
        raise fail(412, "Bad URL")  # a version and no account, as Swift's controller lookup
    version, account = parts[1], _decode(parts[2])
    container = _decode(parts[3]) if len(parts) > 3 else None
    obj = _decode(parts[4]) if len(parts) > 4 else None
    if container == "" and obj is None:
        container = None  # "/v1/AUTH_x/" is the account
    if obj == "" and container:
        obj = None  # "/v1/AUTH_x/c/" is the container, as in Swift (e.g. a FormPost action)
    if len(account.encode()) > MAX_ACCOUNT_NAME:
        raise fail(400, f"Account name length of {len(account.encode())} longer than "
                        f"{MAX_ACCOUNT_NAME}")
    if container is not None:
        if container == "":
            raise fail(400, "Container name cannot be empty")
        if "/" in container:
            raise fail(400, "Container name cannot contain '/'")
        if len(container.encode()) > MAX_CONTAINER_NAME:
            raise fail(400, f"Container name length of {len(container.encode())} longer "
                            f"than {MAX_CONTAINER_NAME}")
    if obj is not None:
        if obj == "":
            raise fail(400 if container else 404, "Object name cannot be empty")
        if len(obj.encode()) > MAX_OBJECT_NAME:
            raise fail(400, f"Object name length of {len(obj.encode())} longer than "
                            f"{MAX_OBJECT_NAME}")
    return SwiftPath(version, account, container, obj)


def check_headers(headers: Mapping[str, str]) -> None:
    """Swift's rule for every header of a write: no value longer than
    :data:`MAX_HEADER_SIZE` bytes (the largest line a node may have to send back)."""
    for key, value in headers.items():
        if len(value) > MAX_HEADER_SIZE // 4 and \
                len(value.encode("utf-8", "surrogateescape")) > MAX_HEADER_SIZE:
            raise fail(400, f"Header value too long: {key[:MAX_META_NAME]}")


def check_metadata(headers: Mapping[str, str], kind: str, limits: ProxyConfig) -> None:
    """Swift's metadata rules for ``X-<Kind>-Meta-*`` headers on a write (the
    request's own; the totals with what is stored are the DB servers' to check)."""
    check_headers(headers)
    prefix = f"x-{kind}-meta-"
    count = size = 0
    for key, value in headers.items():
        k = key.lower()
        if not k.startswith(prefix):
            continue
        name = key[len(prefix):]
        if not name:
            raise fail(400, "Metadata name cannot be empty")
        if not (valid_utf8(name) and valid_utf8(value)):
            raise fail(400, "Metadata must be valid UTF-8")
        count += 1
        name_size, value_size = len(name.encode()), len(value.encode())
        size += name_size + value_size
        if name_size > MAX_META_NAME:
            raise fail(400, f"Metadata name too long: {prefix}{name}")
        if value_size > MAX_META_VALUE:
            raise fail(400, f"Metadata value longer than {MAX_META_VALUE}: {prefix}{name}")
        if count > limits.max_meta_count:
            raise fail(400, f"Too many metadata items; max {limits.max_meta_count}")
        if size > limits.max_meta_overall_size:
            raise fail(400, f"Total metadata too large; max {limits.max_meta_overall_size}")


MAX_DELETE_AT = 9999999999  # Swift's cap: expiry times stay ten digits


def delete_at(value: int | float) -> str:
    """An ``X-Delete-At`` as Swift stores it: an integer clamped to 0..9999999999,
    zero-padded to ten digits (``normalize_delete_at_timestamp``)."""
    return f"{int(min(max(0.0, float(value)), MAX_DELETE_AT)):010d}"


def check_delete_headers(headers: CIMultiDict[str], now: float) -> None:
    """Swift's ``check_delete_headers``: ``X-Delete-After`` becomes ``X-Delete-At``;
    both must be integers in the future (400 with Swift's words otherwise), and a
    time past Swift's cap is clamped to it."""
    after = headers.get("X-Delete-After")
    if after is not None:
        try:
            seconds = int(after)
        except ValueError:
            raise fail(400, "Non-integer X-Delete-After") from None
        at = delete_at(now + seconds)
        if int(at) <= now:
            raise fail(400, "X-Delete-After in past")
        headers["X-Delete-At"] = at
        del headers["X-Delete-After"]
    value = headers.get("X-Delete-At")
    if value is not None:
        try:
            at = delete_at(int(value))
        except ValueError:
            raise fail(400, "Non-integer X-Delete-At") from None
        if int(at) <= now:
            raise fail(400, "X-Delete-At in past")
        headers["X-Delete-At"] = at


def check_object_put(headers: Mapping[str, str], content_length: int | None,
                     limits: ProxyConfig) -> None:
    chunked = headers.get("Transfer-Encoding", "").lower() == "chunked"
    if content_length is not None and content_length > limits.max_file_size:
        raise fail(413, "Your request is too large.")
    if content_length is None and not chunked:
        raise fail(411, "Missing Content-Length header.")
    check_object_post(headers, limits)


def check_object_post(headers: Mapping[str, str], limits: ProxyConfig) -> None:
    """What an object write's headers must be (a PUT's or a POST's)."""
    ctype = headers.get("Content-Type")
    if ctype is not None and not valid_utf8(ctype):
        raise fail(400, "Invalid Content-Type")
    check_metadata(headers, "object", limits)


def error(status: int, message: str = "") -> ApiError:
    return fail(status, message)
