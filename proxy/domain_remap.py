"""Containers and accounts as host names, as Swift's ``domain_remap`` middleware.

With ``[proxy] storage_domain = swift.example.com``, a request to
``<container>.AUTH-<id>.swift.example.com/<path>`` is one for
``/v1/AUTH_<id>/<container>/<path>``, and one to ``AUTH-<id>.swift.example.com``
is for the account: a StaticWeb container becomes a web site at its own host
name. As Swift: the account's first ``-`` stands for ``_`` (host names have
no ``_``), its reseller prefix is matched without regard to case (browsers
lower-case host names), a host naming no known prefix is left alone unless
``domain_remap_default_reseller_prefix`` says which one to put, and more than
two names before the domain is 400 ``Bad domain in host header``. Redirects
(``Location``, ``Content-Location``) that name the rewritten path are turned
back into the path the client asked for, on the same host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from multidict import CIMultiDict

from proxy.errors import fail

RESELLER_PREFIXES = ("AUTH",)
PATH_ROOT = "v1"


@dataclass(frozen=True)
class Remap:
    """A request whose host named its container/account: the path it stands for."""

    requested: str  # the path the client sent (raw), without the query
    path: str  # /v1/<account>[/<container>]/<rest> (raw)
    query: str

    @property
    def raw_path(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def rewrite(self, headers: CIMultiDict[str]) -> None:
        """``Location``/``Content-Location`` naming the rewritten path, on any host,
        name the requested one instead (Swift's RewriteContext)."""
        pattern = re.compile(r"^(https?://[^/]+)" + re.escape(self.path) + r"(.*)$")
        for name in ("Location", "Content-Location"):
            value = headers.get(name)
            if value is not None:
                headers[name] = pattern.sub(lambda m: m.group(1) + self.requested + m.group(2),
                                            value)


def domains(setting: str) -> list[str]:
    """``storage_domain`` as suffixes to match (``.example.com``)."""
    out = []
    for item in setting.split(","):
        item = item.strip()
        if item:
            out.append(item if item.startswith(".") else "." + item)
    return out


def remap(host: str, raw_path: str, storage_domains: list[str],
          default_reseller_prefix: str = "") -> Remap | None:
    """The :class:`Remap` of a request to ``host``, or None when its host names no
    account under one of ``storage_domains`` (the request is then left alone)."""
    if not storage_domains or not host:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    domain = next((d for d in storage_domains if name.endswith(d)), None)
    if domain is None:
        return None
    parts = name[:-len(domain)].strip(".").split(".")
    if len(parts) == 2:
        container, account = parts
    elif len(parts) == 1 and parts[0]:
        container, account = None, parts[0]
    else:
        raise fail(400, "Bad domain in host header")
    if "_" not in account and "-" in account:
        account = account.replace("-", "_", 1)
    prefix = account.split("_", 1)[0].lower()
    known = {p.lower(): p for p in RESELLER_PREFIXES}
    if prefix in known:
        real = known[prefix]
        account = real + account[len(real):]
    elif default_reseller_prefix:
        account = f"{default_reseller_prefix}_{account}"
    else:
        return None
    requested, _, query = raw_path.partition("?")
    pieces = ["", PATH_ROOT, account, *([container] if container else []), requested[1:]]
    return Remap(requested, "/".join(pieces), query)
