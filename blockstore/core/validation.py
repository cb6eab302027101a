"""The values a volume request may carry, checked as Cinder checks them.

Sizes are whole GiB (digit strings accepted), names at most 255 characters,
descriptions 65535, metadata keys 1-255 and values 0-255 characters, flags
booleans or their usual spellings. Each check raises
:class:`~blockstore.errors.Invalid` (400) naming the field.
"""

from __future__ import annotations

from typing import Any

from blockstore.errors import Invalid

TRUE_WORDS = ("true", "1", "yes")
BOOL_WORDS = ("true", "false", "1", "0", "yes", "no")


def parse_size(value: Any, what: str = "size") -> int:
    """A whole number of GiB, at least 1 (strings of digits accepted, as Cinder does)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < 1:
        raise Invalid(f"Invalid input received: {what} must be an integer and greater than "
                      f"0 (got {value!r}).")
    if value > 2**31 - 1:
        raise Invalid(f"Invalid input received: {what} {value} is too large.")
    return value


def check_text(body: dict[str, Any], key: str, limit: int = 255) -> str | None:
    """``body[key]``: None when absent, else a string of at most ``limit`` characters."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"Invalid input received: {key} must be a string of at most {limit} "
                      "characters.")
    return value


def check_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("Invalid input received: metadata must be an object.")
    for k, v in value.items():
        if not isinstance(k, str) or not 0 < len(k) <= 255 or not isinstance(v, str) \
                or len(v) > 255:
            raise Invalid("Invalid input received: metadata keys and values must be strings "
                          "of 1-255 (keys) and 0-255 (values) characters.")
    return dict(value)


def check_flag(value: Any, key: str, default: bool | None = False) -> bool:
    """A boolean, or one of its spellings (``"true"``, ``"0"``, ``"yes"``...); ``default``
    when absent (None: it must be given)."""
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.lower() in BOOL_WORDS:
        return value.lower() in TRUE_WORDS
    if not isinstance(value, bool):
        raise Invalid(f"Invalid input received: {key} must be a boolean.")
    return value


def truthy(value: Any) -> bool:
    """A lenient flag: a string is true when it says so, anything else by its truth."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def check_mode(value: Any) -> str:
    """An attach mode: ``rw`` or ``ro``."""
    if value not in ("rw", "ro"):
        raise Invalid(f"Invalid input received: Invalid attaching mode '{value}'.")
    return str(value)


def check_only_key(body: Any, key: str) -> None:
    """``PUT .../{key}`` bodies hold exactly the URL's key (400 otherwise)."""
    if not isinstance(body, dict) or list(body) != [key]:
        raise Invalid("Invalid input received: the request body must hold exactly the key "
                      "of the URL.")


def check_id(body: dict[str, Any], key: str, *, allow_empty: bool = True) -> str:
    """``body[key]``: a string id that must be given (an empty one is looked up, and
    not found, unless ``allow_empty`` is False)."""
    value = body.get(key)
    if not isinstance(value, str) or not (value or allow_empty):
        raise Invalid(f"Invalid input received: {key} is required.")
    return value
