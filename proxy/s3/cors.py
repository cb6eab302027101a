"""S3 bucket CORS: Put/Get/DeleteBucketCors, preflights, and CORS headers on answers.

The configuration is kept as container sysmeta of the bucket: its rules as JSON,
zlib-compressed and base64-encoded, cut into ``X-Container-Sysmeta-S3-Cors-<n>``
pieces of at most ``shared.PIECE`` characters (a container HEAD carries them as
headers, which must stay short), with ``-Count`` saying how many.

A preflight (``OPTIONS /<bucket>[/<key>]`` with ``Origin`` and
``Access-Control-Request-Method``) is anonymous, as in S3: the bucket's account
comes from the bucket registry (``registry.owner_of``), and the first rule that
allows the origin, the method and every requested header answers it (200 with
``Access-Control-Allow-*``); none is 403 ``AccessForbidden``. Other requests
that carry ``Origin`` get the first matching rule's headers on their answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from common.errors import StrataError
from common.http import ApiError
from proxy.pipeline import SwiftResponse
from proxy.s3 import registry
from proxy.s3 import xmlutil as x
from proxy.s3.errors import S3Error, from_swift_status
from proxy.s3.operation import valid_bucket
from proxy.s3.request import S3Request, check_content_md5
from proxy.s3.shared import pack, unpack, unpacked
from proxy.state import ProxyState

SYS = "X-Container-Sysmeta-S3-Cors-"
MAX_PIECES = 32
MAX_RULES = 100
MAX_BODY = 64 << 10
METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
RULE_TAGS = frozenset({"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader",
                       "ExposeHeader", "MaxAgeSeconds"})
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the "
               "evalution of Origin, request method / Access-Control-Request-Method or "
               "Access-Control-Request-Headers are not whitelisted by the resource's CORS "
               "spec.")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@dataclass
class Rule:
    origins: list[str]
    methods: list[str]
    headers: list[str] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)
    max_age: int | None = None
    id: str | None = None

    def allows(self, origin: str, method: str, requested: list[str]) -> bool:
        if method not in self.methods:
            return False
        if not any(wildcard_match(o, origin) for o in self.origins):
            return False
        allowed = [h.lower() for h in self.headers]
        return all(any(wildcard_match(a, h.lower()) for a in allowed) for h in requested)

    def answer(self, origin: str, requested: list[str] | None) -> dict[str, str]:
        """The Access-Control-* headers this rule gives ``origin``; ``requested``:
        the preflight's requested headers (None on an actual request)."""
        wildcard = "*" in self.origins
        out = {"Access-Control-Allow-Origin": "*" if wildcard else origin,
               "Access-Control-Allow-Methods": ", ".join(self.methods),
               "Vary": VARY}
        if not wildcard:
            out["Access-Control-Allow-Credentials"] = "true"
        if requested:
            out["Access-Control-Allow-Headers"] = ", ".join(requested)
        if self.expose:
            out["Access-Control-Expose-Headers"] = ", ".join(self.expose)
        if self.max_age is not None:
            out["Access-Control-Max-Age"] = str(self.max_age)
        return out


def wildcard_match(pattern: str, value: str) -> bool:
    """``pattern`` with at most one ``*`` (any run of characters) against ``value``."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) \
        and value.endswith(tail)


# -- the configuration document ---------------------------------------------------------

def _invalid(message: str) -> S3Error:
    return S3Error("InvalidRequest", message)


def parse_config(body: bytes) -> list[Rule]:
    doc = x.parse(body)
    if doc.tag != "CORSConfiguration" or any(el.tag != "CORSRule" for el in doc):
        raise S3Error("MalformedXML")
    rules: list[Rule] = []
    for el in doc:
        if any(child.tag not in RULE_TAGS for child in el):
            raise S3Error("MalformedXML")

        def texts(tag: str, rule: Any = el) -> list[str]:
            return [(c.text or "").strip() for c in rule.findall(tag)]

        origins, methods = texts("AllowedOrigin"), texts("AllowedMethod")
        ids, ages = texts("ID"), texts("MaxAgeSeconds")
        if not origins or not methods or len(ids) > 1 or len(ages) > 1:
            raise S3Error("MalformedXML")
        for m in methods:
            if m not in METHODS:
                raise _invalid("Found unsupported HTTP method in CORS config. Unsupported "
                               f"method is {m}")
        for o in origins:
            if o.count("*") > 1:
                raise _invalid(f'AllowedOrigin "{o}" can not have more than one wildcard.')
        headers = texts("AllowedHeader")
        for h in headers:
            if h.count("*") > 1:
                raise _invalid(f'AllowedHeader "{h}" can not have more than one wildcard.')
        max_age = None
        if ages:
            try:
                max_age = int(ages[0])
            except ValueError:
                raise S3Error("MalformedXML") from None
        if ids and len(ids[0]) > 255:
            raise _invalid("The ID of a CORS rule can not be longer than 255 characters.")
        rules.append(Rule(origins, methods, headers, texts("ExposeHeader"), max_age,
                          ids[0] if ids else None))
    if not rules:
        raise S3Error("MalformedXML")
    if len(rules) > MAX_RULES:
        raise _invalid(f"The number of CORS rules should not exceed allowed limit of "
                       f"{MAX_RULES} rules.")
    return rules


def config_xml(rules: list[Rule]) -> bytes:
    doc = x.root("CORSConfiguration")
    for r in rules:
        el = x.add(doc, "CORSRule")
        if r.id is not None:
            x.add(el, "ID", r.id)
        for tag, values in (("AllowedHeader", r.headers), ("AllowedMethod", r.methods),
                            ("AllowedOrigin", r.origins), ("ExposeHeader", r.expose)):
            for v in values:
                x.add(el, tag, v)
        if r.max_age is not None:
            x.add(el, "MaxAgeSeconds", str(r.max_age))
    return x.dump(doc)


# -- as sysmeta -------------------------------------------------------------------------

def encode(rules: list[Rule]) -> dict[str, str]:
    out = pack(SYS, json.dumps([asdict(r) for r in rules], separators=(",", ":")),
               MAX_PIECES)
    if out is None:
        raise _invalid("The CORS configuration is too large.")
    return out


def decode(headers: Mapping[str, str]) -> list[Rule] | None:
    """The rules a container's headers hold, or None when there are none (or they are
    unreadable)."""
    text = unpack({k.lower(): v for k, v in headers.items()}, SYS)
    if text is None:
        return None
    try:
        return [Rule(**r) for r in json.loads(text)] or None
    except (ValueError, TypeError):
        return None


def cleared(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers that remove every piece a container's headers show."""
    return unpacked(SYS, headers)


async def rules_for(st: ProxyState, txn: str, account: str, bucket: str) -> list[Rule] | None:
    info = await st.info(txn, account, bucket)
    return decode(info.headers) if info.exists else None


# -- Put/Get/DeleteBucketCors -------------------------------------------------------------

async def put_cors(req: S3Request) -> SwiftResponse:
    body = await req.body.read_all(MAX_BODY)
    check_content_md5(req.headers, body)
    rules = parse_config(body)
    head = await req.head_bucket()
    headers = {k.lower(): v for k, v in (*cleared(head.headers).items(),
                                         *encode(rules).items())}
    r = await req.call("POST", req.bucket, headers=headers)
    await r.close()
    if not r.ok:
        raise from_swift_status(r.status, bucket=True)
    return SwiftResponse.of(200, {"Content-Length": "0"})


async def get_cors(req: S3Request) -> SwiftResponse:
    head = await req.head_bucket()
    rules = decode(head.headers)
    if rules is None:
        raise S3Error("NoSuchCORSConfiguration", BucketName=req.bucket or "")
    return SwiftResponse.of(200, {"Content-Type": x.CONTENT_TYPE}, config_xml(rules))


async def delete_cors(req: S3Request) -> SwiftResponse:
    head = await req.head_bucket()
    r = await req.call("POST", req.bucket, headers=cleared(head.headers))
    await r.close()
    if not r.ok:
        raise from_swift_status(r.status, bucket=True)
    return SwiftResponse.of(204)


# -- preflights and answers ----------------------------------------------------------------

def requested_headers(headers: Mapping[str, str]) -> list[str]:
    raw = headers.get("Access-Control-Request-Headers", "")
    return [h.strip().lower() for h in raw.split(",") if h.strip()]


async def preflight_for(req: S3Request, account: str | None) -> SwiftResponse:
    """The answer to preflight ``req`` on a bucket of ``account`` (None: not found)."""
    origin = req.headers.get("Origin")
    method = req.headers.get("Access-Control-Request-Method")
    if not origin:
        raise S3Error("BadRequest", "Insufficient information. Origin request header "
                      "needed.")
    if not method:
        raise S3Error("BadRequest", "Invalid Access-Control-Request-Method: null")
    if req.bucket is None or account is None:
        raise S3Error("AccessForbidden", "CORSResponse: Bucket not found", Method=method,
                      ResourceType="BUCKET")
    rules = await rules_for(req.st, req.txn, account, req.bucket)
    if rules is None:
        raise S3Error("AccessForbidden", "CORSResponse: CORS is not enabled for this "
                      "bucket.", Method=method, ResourceType="BUCKET")
    requested = requested_headers(req.headers)
    for rule in rules:
        if rule.allows(origin, method, requested):
            return SwiftResponse.of(200, {**rule.answer(origin, requested),
                                          "Content-Length": "0"})
    raise S3Error("AccessForbidden", NOT_ALLOWED, Method=method,
                  ResourceType="OBJECT" if req.key is not None else "BUCKET")


async def preflight(req: S3Request) -> SwiftResponse:
    account = None
    if req.bucket is not None and valid_bucket(req.bucket):
        account = await registry.owner_of(req, req.bucket)
    return await preflight_for(req, account)


async def actual_headers(req: S3Request, origin: str) -> dict[str, str]:
    """CORS headers for the answer to ``req`` (not a preflight) sent with ``origin``."""
    if req.bucket is None or not valid_bucket(req.bucket):
        return {}
    try:
        account = req.account
        rules = await rules_for(req.st, req.txn, account, req.bucket)
    except (StrataError, ApiError):  # anonymous and no bucket found for it, or unreadable
        return {}
    for rule in rules or ():
        if rule.allows(origin, req.method, []):
            return rule.answer(origin, None)
    return {}
