"""Container and account quotas, as Swift's ``container_quotas`` and ``account_quotas``.

**Container quotas** are container metadata the container's owner sets:
``X-Container-Meta-Quota-Bytes`` and ``X-Container-Meta-Quota-Count``. A
container PUT/POST with a value that is not a whole number is a ``400``
(``Invalid bytes quota.`` / ``Invalid count quota.``); an object PUT whose
``Content-Length`` would take the container past its bytes quota, or one
object past its count, is a ``413`` ``Upload exceeds quota.`` (or the ``401``/
``403`` the caller would get anyway, so that nobody learns of a container
they may not write to).

**Account quotas** are kept in the account's system metadata and set only by
resellers (the ``service`` or ``ResellerAdmin`` role): ``X-Account-Quota-Bytes``
(also as the older ``X-Account-Meta-Quota-Bytes``), ``X-Account-Quota-Count``,
their ``-Policy-<name>`` forms, and ``X-Remove-...`` to drop one. Anyone else
who sends one gets a ``403``; a reseller's value that is not a whole number
is a ``400``. Account GET/HEAD show them to everyone who may read the account.
Object PUTs past them are a ``413`` (``Upload exceeds quota.``, or ``Upload
exceeds policy quota.``) for everyone but resellers.

Sizes and counts come from the cached container/account HEAD, so, as in
Swift, they trail the uploads a little (an account's usage is reported by
the updater, every ``updater_interval`` seconds).
"""

from __future__ import annotations

from typing import Any

from proxy.errors import EXPLANATIONS
from proxy.objects import authorize_object_request
from proxy.pipeline import Handler, SwiftRequest, SwiftResponse
from proxy.state import Info, ProxyState, policy_of

HTML = "text/html; charset=UTF-8"
EXCEEDED = "Upload exceeds quota."
POLICY_EXCEEDED = "Upload exceeds policy quota."
QUOTA_TYPES = ("Quota-Bytes", "Quota-Count")


def text_response(status: int, body: str) -> SwiftResponse:
    data = body.encode()
    return SwiftResponse.of(status, {"Content-Type": HTML, "Content-Length": str(len(data))},
                            data)


def standard_response(status: int, title: str) -> SwiftResponse:
    """swob's own page for a status given no body."""
    return text_response(status, f"<html><h1>{title}</h1><p>{EXPLANATIONS[status]}</p></html>")


def is_number(value: str) -> bool:
    return value.isascii() and value.isdigit()


def as_quota(value: str) -> int:
    """A stored quota, or -1 (no quota) when unset or not a number."""
    return int(value) if is_number(value.strip()) else -1


def header(info: Info, name: str) -> str | None:
    """``name`` from a cached HEAD, or None when it was not there at all."""
    lname = name.lower()
    for k, v in info.headers.items():
        if k.lower() == lname:
            return v
    return None


def as_int(value: str) -> int:
    return int(value) if is_number(value.strip()) else 0


class _Quotas:
    """What both quota features share: the proxy state and an empty /info entry."""

    name: str | None = None

    def __init__(self, st: ProxyState) -> None:
        self.st = st

    def info(self) -> dict[str, Any]:
        return {}


class ContainerQuotas(_Quotas):
    name: str | None = "container_quotas"

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        path = req.path
        if path.container is None:
            return await next_handler(req)
        if path.obj is None:
            if req.method in ("PUT", "POST"):
                value = req.headers.get("X-Container-Meta-Quota-Bytes")
                if value and not is_number(value):
                    return text_response(400, "Invalid bytes quota.")
                value = req.headers.get("X-Container-Meta-Quota-Count")
                if value and not is_number(value):
                    return text_response(400, "Invalid count quota.")
            return await next_handler(req)
        if req.method != "PUT":
            return await next_handler(req)
        info = await self.st.info(req.txn, path.account, path.container)
        if not info.exists:
            return await next_handler(req)  # the controller answers 404
        bytes_quota = info.get("X-Container-Meta-Quota-Bytes")
        count_quota = info.get("X-Container-Meta-Quota-Count")
        if is_number(bytes_quota):
            new_size = as_int(info.get("X-Container-Bytes-Used")) + (req.content_length or 0)
            if int(bytes_quota) < new_size:
                return await self.exceeded(req, info)
        if is_number(count_quota):
            if int(count_quota) < as_int(info.get("X-Container-Object-Count")) + 1:
                return await self.exceeded(req, info)
        resp = await next_handler(req)
        if (bytes_quota or count_quota) and resp.ok:
            self.st.forget(path.account, path.container)  # the next check sees this upload
        return resp

    async def exceeded(self, req: SwiftRequest, info: Info) -> SwiftResponse:
        await authorize_object_request(self.st, req, info)
        return text_response(413, EXCEEDED)


class AccountQuotas(_Quotas):
    name: str | None = "account_quotas"

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        path = req.path
        if path.container is None:
            return await self.handle_account(req, next_handler)
        if not (req.method == "PUT" and path.obj is not None) or req.caller.reseller:
            return await next_handler(req)
        account = await self.st.info(req.txn, path.account)
        length = req.content_length or 0
        refusal: str | None = None
        stored = header(account, "X-Account-Sysmeta-Quota-Bytes")
        if stored is None:  # quotas set before they moved to system metadata
            stored = account.get("X-Account-Meta-Quota-Bytes")
        bytes_quota = as_quota(stored)
        if 0 <= bytes_quota < as_int(account.get("X-Account-Bytes-Used")) + length:
            refusal = EXCEEDED
        count_quota = as_quota(account.get("X-Account-Sysmeta-Quota-Count"))
        if refusal is None and \
                0 <= count_quota < as_int(account.get("X-Account-Object-Count")) + 1:
            refusal = EXCEEDED
        container = await self.st.info(req.txn, path.account, path.container or "")
        if refusal is None:
            idx = policy_of(container)
            refusal = self.policy_refusal(account, idx, dict(self.policies()).get(idx, ""),
                                          length)
        if refusal is not None:
            await authorize_object_request(self.st, req, container)
            return text_response(413, refusal)
        resp = await next_handler(req)
        if resp.ok and any(account.get(f"X-Account-Sysmeta-{q}") for q in QUOTA_TYPES):
            self.st.forget(path.account)
        return resp

    @staticmethod
    def policy_refusal(account: Info, idx: int, name: str, length: int) -> str | None:
        """The quotas of the storage policy the upload goes to, against that policy's
        usage (the account's own totals when the account reports none per policy)."""
        prefix = f"X-Account-Storage-Policy-{name}-"
        used = account.get(prefix + "Bytes-Used") or account.get("X-Account-Bytes-Used")
        count = account.get(prefix + "Object-Count") or account.get("X-Account-Object-Count")
        quota = as_quota(account.get(f"X-Account-Sysmeta-Quota-Bytes-Policy-{idx}"))
        if 0 <= quota < as_int(used) + length:
            return POLICY_EXCEEDED
        quota = as_quota(account.get(f"X-Account-Sysmeta-Quota-Count-Policy-{idx}"))
        if 0 <= quota < as_int(count) + 1:
            return POLICY_EXCEEDED
        return None

    def policies(self) -> list[tuple[int, str]]:
        return [(p.index, p.name) for p in self.st.cfg.objectstore.policies()]

    async def handle_account(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.method in ("POST", "PUT"):
            for legacy in ("X-Account-Meta-Quota-Bytes", "X-Remove-Account-Meta-Quota-Bytes"):
                current = legacy.replace("-Meta-", "-")
                value = req.headers.get(legacy)
                if value is not None and not req.headers.get(current):
                    req.headers[current] = value
            for quota_type in QUOTA_TYPES:
                refusal = self.translate(req, quota_type)
                if refusal is not None:
                    return refusal
        resp = await next_handler(req)
        for quota_type in QUOTA_TYPES:
            value = resp.headers.get(f"X-Account-Sysmeta-{quota_type}")
            if value:
                resp.headers[f"X-Account-{quota_type}"] = value
        for idx, name in self.policies():
            for quota_type in QUOTA_TYPES:
                value = resp.headers.get(f"X-Account-Sysmeta-{quota_type}-Policy-{idx}")
                if value:
                    resp.headers[f"X-Account-{quota_type}-Policy-{name}"] = value
        return resp

    def translate(self, req: SwiftRequest, quota_type: str) -> SwiftResponse | None:
        """A reseller's new quotas into system metadata; anyone else's refused."""
        headers = req.headers
        wanted: dict[int | None, str | None] = {None: headers.get(f"X-Account-{quota_type}")}
        if headers.get(f"X-Remove-Account-{quota_type}"):
            wanted[None] = ""  # removing wins over setting
        for idx, name in self.policies():
            tail = f"Account-{quota_type}-Policy-{name}"
            if headers.get("X-Remove-" + tail):
                wanted[idx] = ""
            else:
                wanted[idx] = headers.popone("X-" + tail, None)
        if req.caller.reseller:
            if any(v and not is_number(v) for v in wanted.values()):
                return standard_response(400, "Bad Request")
            for policy, value in wanted.items():
                key = f"X-Account-Sysmeta-{quota_type}" if policy is None else \
                    f"X-Account-Sysmeta-{quota_type}-Policy-{policy}"
                headers.popall(key, None)
                if value is not None:
                    headers[key] = value
            return None
        if any(v is not None for v in wanted.values()):
            return standard_response(403, "Forbidden")
        return None


def make_container(st: ProxyState) -> ContainerQuotas | None:
    return ContainerQuotas(st) if st.cfg.proxy.container_quotas else None


def make_account(st: ProxyState) -> AccountQuotas | None:
    return AccountQuotas(st) if st.cfg.proxy.account_quotas else None
