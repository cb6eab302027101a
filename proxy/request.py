"""Turn a client request into a typed Swift operation, checking Swift's constraints.

Parsing is separate from dispatch so that it can be tested alone: every name
and metadata rule is applied here, before any storage node is asked anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from common.config import ProxyConfig
from common.http import ApiError
from proxy.errors import fail

MAX_ACCOUNT_NAME = 256
MAX_CONTAINER_NAME = 256
MAX_OBJECT_NAME = 1024
MAX_META_NAME = 128
MAX_META_VALUE = 256
VERSIONS = ("v1", "v1.0")
TRUE_VALUES = frozenset({"true", "1", "yes", "on", "t", "y"})


def is_true(value: str | None) -> bool:
    """Swift's ``config_true_value``: a header, parameter or setting that means yes."""
    return (value or "").strip().lower() in TRUE_VALUES


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


def _decode(segment: str) -> str:
    try:
        text = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise fail(412, "Invalid UTF8 or contains NULL") from None
    if "\x00" in text:
        raise fail(412, "Invalid UTF8 or contains NULL")
    return text


def parse_path(raw_path: str) -> SwiftPath:
    """``/v1/<account>[/<container>[/<object>]]`` from the raw (still %-encoded) path.

    Splitting before decoding means a ``%2F`` inside a container name is a bad
    container name (400), not a silent move into an object path.
    """
    raw = raw_path.split("?", 1)[0]
    parts = raw.split("/", 4)
    if len(parts) < 3 or parts[0] != "" or parts[1] not in VERSIONS or not parts[2]:
        raise fail(404)
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


def check_metadata(headers: Mapping[str, str], kind: str, limits: ProxyConfig) -> None:
    """Swift's metadata rules for ``X-<Kind>-Meta-*`` headers on a write."""
    prefix = f"x-{kind}-meta-"
    count = size = 0
    for key, value in headers.items():
        k = key.lower()
        if not k.startswith(prefix):
            continue
        name = key[len(prefix):]
        if not name:
            raise fail(400, "Metadata name cannot be empty")
        count += 1
        size += len(name.encode()) + len(value.encode())
        if len(name.encode()) > MAX_META_NAME:
            raise fail(400, f"Metadata name too long: {key}; max {MAX_META_NAME}")
        if len(value.encode()) > MAX_META_VALUE:
            raise fail(400, f"Metadata value longer than {MAX_META_VALUE}: {key}")
        if count > limits.max_meta_count:
            raise fail(400, f"Too many metadata items; max {limits.max_meta_count}")
        if size > limits.max_meta_overall_size:
            raise fail(400, f"Total metadata too large; max {limits.max_meta_overall_size}")


def check_object_put(headers: Mapping[str, str], content_length: int | None,
                     limits: ProxyConfig) -> None:
    chunked = headers.get("Transfer-Encoding", "").lower() == "chunked"
    if content_length is None and not chunked:
        raise fail(411)
    if content_length is not None and content_length > limits.max_file_size:
        raise fail(413, "Your request is too large.")
    delete_at = headers.get("X-Delete-At")
    if delete_at is not None and not delete_at.isdigit():
        raise fail(400, "Non-integer X-Delete-At")
    after = headers.get("X-Delete-After")
    if after is not None and not after.isdigit():
        raise fail(400, "Non-integer X-Delete-After")
    check_metadata(headers, "object", limits)


def error(status: int, message: str = "") -> ApiError:
    return fail(status, message)
