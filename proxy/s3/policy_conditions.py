"""The ``Condition`` element of bucket policies: operators, keys, and their evaluation.

A condition block is ``{"<operator>": {"<key>": <value or values>, ...}, ...}``;
every operator and every key in it must hold (AND), and a key holds when the
request's value matches any of the policy's values (OR). Operators, as the IAM
reference gives them: ``String*``, ``Numeric*``, ``Date*``, ``Bool``,
``BinaryEquals``, ``IpAddress``/``NotIpAddress``, ``Arn*`` and ``Null``, each
(but ``Null``) with an ``...IfExists`` form and the ``ForAnyValue:`` /
``ForAllValues:`` qualifiers for keys with several values.

A key absent from the request makes a condition false, except that negated
operators (``StringNotEquals``, ``NotIpAddress``, ...) and ``ForAllValues:``
are then true, ``...IfExists`` is true, and ``Null`` tests just that.

Everything the policy holds is checked and compiled once (:func:`compile_block`);
evaluating a condition is a lookup of the request's values (a :class:`Context`)
and a few comparisons. Policy variables (``${aws:username}``, ``${*}``, ...) in
string and ARN values are replaced by the request's values when evaluated.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from proxy.s3.errors import S3Error


class Context(Protocol):
    """The request's values for condition keys (names in lower case); None: absent."""

    def get(self, key: str) -> list[str] | None: ...


def malformed(message: str) -> S3Error:
    return S3Error("MalformedPolicy", message)


# -- keys ---------------------------------------------------------------------------------

GLOBAL_KEYS = frozenset({
    "aws:currenttime", "aws:epochtime", "aws:referer", "aws:securetransport", "aws:sourceip",
    "aws:useragent", "aws:username", "aws:userid", "aws:principalaccount", "aws:principalarn",
    "aws:principaltype", "aws:sourcearn", "aws:sourceaccount", "aws:sourceowner",
    "aws:sourcevpc", "aws:sourcevpce", "aws:principalorgid", "aws:multifactorauthpresent",
    "aws:multifactorauthage", "aws:tokenissuetime", "aws:viaawsservice",
    "aws:calledvia", "aws:principalisawsservice", "aws:requestedregion",
})
S3_KEYS = frozenset({
    "s3:prefix", "s3:delimiter", "s3:max-keys", "s3:x-amz-acl", "s3:x-amz-grant-read",
    "s3:x-amz-grant-write", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write-acp",
    "s3:x-amz-grant-full-control", "s3:x-amz-copy-source", "s3:x-amz-metadata-directive",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-storage-class", "s3:x-amz-content-sha256", "s3:versionid",
    "s3:signatureversion", "s3:signatureage", "s3:authtype", "s3:tlsversion",
    "s3:requestobjecttagkeys", "s3:object-lock-mode", "s3:object-lock-retain-until-date",
    "s3:object-lock-remaining-retention-days", "s3:object-lock-legal-hold",
    "s3:resourceaccount", "s3:locationconstraint", "s3:x-amz-object-ownership",
    "s3:objectcreationoperation", "s3:if-none-match", "s3:if-match",
})
KEY_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/", "aws:principaltag/",
                "aws:requesttag/", "aws:resourcetag/")


def check_key(key: str) -> str:
    """The key as evaluated (lower case; a tag key keeps its case after the ``/``);
    MalformedPolicy for a key S3 does not have."""
    low = key.lower()
    for prefix in KEY_PREFIXES:
        if low.startswith(prefix) and len(key) > len(prefix):
            return prefix + key[len(prefix):]
    if low in GLOBAL_KEYS or low in S3_KEYS:
        return low
    raise malformed("Policy has an invalid condition key")


# -- values -------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def substitute(text: str, ctx: Context) -> str:
    """``text`` with its policy variables replaced by the request's values (a variable
    the request has no value for makes nothing match: it becomes an impossible value)."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _SPECIAL:
            return "\x00" + name  # a literal * ? $, not a wildcard
        values = ctx.get(name.lower())
        return values[0] if values else "\x00\x01"
    return _VARIABLE.sub(one, text)


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` (any run) and ``?`` (one character) as a regular expression; ``\\x00*``
    (a substituted ``${*}``) is a literal star."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\x00" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _texts(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (str, int, float)):
            out.append(str(item))
        else:
            raise malformed("Invalid Condition value: a value must be a string, a number or "
                            "a boolean")
    if not out:
        raise malformed("Invalid Condition value: no value given")
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_date(text: str) -> float | None:
    """An ISO 8601 date and time (or a date), or seconds since the epoch."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _arn_parts(text: str) -> list[str] | None:
    parts = text.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


# -- operators ----------------------------------------------------------------------------

# A positive test of one request value against the policy's values (prepared once).
Test = Callable[[str, Sequence[Any], "Context"], bool]


def _string_equals(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    return any(value == (substitute(w, ctx) if "${" in w else w) for w in wanted)


def _string_equals_ic(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    low = value.lower()
    return any(low == (substitute(w, ctx) if "${" in w else w).lower() for w in wanted)


def _string_like(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    return any(wildcard(substitute(w, ctx) if "${" in w else w).fullmatch(value)
               for w in wanted)


def _numeric(compare: Callable[[float, float], bool]) -> Test:
    def test(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
        got = _number(value)
        return got is not None and any(compare(got, w) for w in wanted)
    return test


def _date(compare: Callable[[float, float], bool]) -> Test:
    def test(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
        got = parse_date(value)
        return got is not None and any(compare(got, w) for w in wanted)
    return test


def _bool(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    return any(value.lower() == w for w in wanted)


def _binary(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    return value in wanted


@functools.lru_cache(maxsize=4096)
def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A caller's address, parsed once: the same few clients ask again and again."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _ip(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    address = _address(value)
    if address is None:
        return False
    return any(address.version == w.version and address in w for w in wanted)


def _arn_like(value: str, wanted: Sequence[Any], ctx: Context) -> bool:
    got = _arn_parts(value)
    if got is None:
        return False
    for w in wanted:
        parts = _arn_parts(substitute(w, ctx) if "${" in w else w)
        if parts is not None and all(wildcard(p).fullmatch(g)
                                     for p, g in zip(parts, got, strict=True)):
            return True
    return False


def _eq(a: float, b: float) -> bool:
    return a == b


def _lt(a: float, b: float) -> bool:
    return a < b


def _le(a: float, b: float) -> bool:
    return a <= b


def _gt(a: float, b: float) -> bool:
    return a > b


def _ge(a: float, b: float) -> bool:
    return a >= b


def _prepare_strings(values: tuple[str, ...]) -> tuple[Any, ...]:
    return values


def _prepare_numbers(values: tuple[str, ...]) -> tuple[Any, ...]:
    out = tuple(_number(v) for v in values)
    if any(v is None for v in out):
        raise malformed("Invalid Condition value: a Numeric condition needs numbers")
    return out


def _prepare_dates(values: tuple[str, ...]) -> tuple[Any, ...]:
    out = tuple(parse_date(v) for v in values)
    if any(v is None for v in out):
        raise malformed("Invalid Condition value: a Date condition needs ISO 8601 dates")
    return out


def _prepare_bools(values: tuple[str, ...]) -> tuple[Any, ...]:
    out = tuple(v.lower() for v in values)
    if any(v not in ("true", "false") for v in out):
        raise malformed("Invalid Condition value: Bool and Null conditions take true or "
                        "false")
    return out


def _prepare_networks(values: tuple[str, ...]) -> tuple[Any, ...]:
    out = tuple(_network(v) for v in values)
    if any(v is None for v in out):
        raise malformed("Invalid Condition value: an IpAddress condition needs addresses "
                        "or CIDR blocks")
    return out


# name -> (positive test, negated, how the policy's values are prepared)
OPERATORS: dict[str, tuple[Test, bool, Callable[[tuple[str, ...]], tuple[Any, ...]]]] = {
    "StringEquals": (_string_equals, False, _prepare_strings),
    "StringNotEquals": (_string_equals, True, _prepare_strings),
    "StringEqualsIgnoreCase": (_string_equals_ic, False, _prepare_strings),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True, _prepare_strings),
    "StringLike": (_string_like, False, _prepare_strings),
    "StringNotLike": (_string_like, True, _prepare_strings),
    "NumericEquals": (_numeric(_eq), False, _prepare_numbers),
    "NumericNotEquals": (_numeric(_eq), True, _prepare_numbers),
    "NumericLessThan": (_numeric(_lt), False, _prepare_numbers),
    "NumericLessThanEquals": (_numeric(_le), False, _prepare_numbers),
    "NumericGreaterThan": (_numeric(_gt), False, _prepare_numbers),
    "NumericGreaterThanEquals": (_numeric(_ge), False, _prepare_numbers),
    "DateEquals": (_date(_eq), False, _prepare_dates),
    "DateNotEquals": (_date(_eq), True, _prepare_dates),
    "DateLessThan": (_date(_lt), False, _prepare_dates),
    "DateLessThanEquals": (_date(_le), False, _prepare_dates),
    "DateGreaterThan": (_date(_gt), False, _prepare_dates),
    "DateGreaterThanEquals": (_date(_ge), False, _prepare_dates),
    "Bool": (_bool, False, _prepare_bools),
    "BinaryEquals": (_binary, False, _prepare_strings),
    "IpAddress": (_ip, False, _prepare_networks),
    "NotIpAddress": (_ip, True, _prepare_networks),
    "ArnEquals": (_arn_like, False, _prepare_strings),
    "ArnLike": (_arn_like, False, _prepare_strings),
    "ArnNotEquals": (_arn_like, True, _prepare_strings),
    "ArnNotLike": (_arn_like, True, _prepare_strings),
}
# Operators whose fixed values keep a statement from being public (with the keys below).
RESTRICTING = frozenset({"StringEquals", "StringEqualsIgnoreCase", "IpAddress", "ArnEquals",
                         "ArnLike", "StringLike"})
RESTRICTING_KEYS = frozenset({
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner",
    "aws:sourceaccount", "aws:principalaccount", "aws:principalarn", "aws:userid",
    "aws:principalorgid", "aws:username", "s3:resourceaccount",
})


@dataclass(frozen=True)
class Condition:
    """One key of one operator, compiled."""

    operator: str
    key: str
    values: tuple[Any, ...]
    test: Test | None  # None: the Null operator
    negated: bool = False
    if_exists: bool = False
    qualifier: str = ""  # "", "ForAnyValue" or "ForAllValues"

    def holds(self, ctx: Context) -> bool:
        got = ctx.get(self.key)
        if self.test is None:  # Null: "true" asks for the key to be absent
            return (not got) == bool(self.values[0] == "true")
        if not got:
            if self.if_exists:
                return True
            return self.qualifier == "ForAllValues" or (self.negated and not self.qualifier)
        test, wanted = self.test, self.values
        if self.qualifier == "ForAllValues":
            return all(test(v, wanted, ctx) != self.negated for v in got)
        if self.qualifier == "ForAnyValue":
            return any(test(v, wanted, ctx) != self.negated for v in got)
        return any(test(v, wanted, ctx) for v in got) != self.negated

    @property
    def restricts(self) -> bool:
        """Fixed values of a key that pins who may ask (see ``policy.Policy.public``)."""
        if self.operator not in RESTRICTING or self.negated or self.key not in RESTRICTING_KEYS:
            return False
        for v in self.values:
            if isinstance(v, str) and ("*" in v or "?" in v):
                return False
            if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network) and \
                    v.prefixlen == 0:
                return False
        return True


def compile_block(block: Any) -> tuple[Condition, ...]:
    """A statement's ``Condition`` element, checked and compiled; MalformedPolicy when it
    is not one."""
    if not isinstance(block, dict):
        raise malformed("Condition must be an object")
    out: list[Condition] = []
    for raw_operator, keys in block.items():
        qualifier, _, name = str(raw_operator).rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise malformed(f"Invalid Condition type : {raw_operator}")
        if_exists = name.endswith("IfExists") and name != "IfExists"
        base = name[:-len("IfExists")] if if_exists else name
        prepare: Callable[[tuple[str, ...]], tuple[Any, ...]]
        test: Test | None
        if base == "Null" and not if_exists:
            test, negated, prepare = None, False, _prepare_bools
        elif base in OPERATORS:
            test, negated, prepare = OPERATORS[base]
        else:
            raise malformed(f"Invalid Condition type : {raw_operator}")
        if not isinstance(keys, dict) or not keys:
            raise malformed(f"Condition {raw_operator} must name its keys")
        for key, raw in keys.items():
            values = prepare(_texts(raw))
            if test is None and len(values) != 1:
                raise malformed("A Null condition takes one value")
            out.append(Condition(base, check_key(str(key)), values, test, negated, if_exists,
                                 qualifier))
    return tuple(out)
