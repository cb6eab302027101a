"""Swift's formpost middleware: browser uploads straight into a container.

A ``POST`` of ``multipart/form-data`` to ``/v1/<account>/<container>[/<prefix>]``
carries the form's attributes (``redirect``, ``max_file_size``,
``max_file_count``, ``expires``, ``signature``, optionally ``x_delete_at``/
``x_delete_after``/``content-type``/``content-encoding``) followed by files.
The signature is an HMAC, keyed with one of the account's or container's
Temp-URL keys, over::

    <path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>

given as hex (sha256/sha512 by length) or ``<digest>:<base64>``. Each file
becomes a pre-authorized ``PUT`` of ``<path>[/]<filename>`` through the rest
of the pipeline. Attributes must come before the files; only as many bytes
of an attribute as Swift reads (4096) count.

The answer is Swift's: without ``redirect`` a ``text/plain`` status line
(``201 Created``; ``400 Bad Request\\r\\nFormPost: No Files To Process``; a
failed upload's own body), with it a ``303`` to ``<redirect>?status=..&message=..``;
``400 FormPost: <reason>`` for a malformed form and ``401 FormPost: Invalid
Signature`` / ``Form Expired`` for a bad signature.

The form is read with aiohttp's multipart reader, streaming: a file is never
held in memory whole.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import BodyPartReader, MultipartReader
from aiohttp.helpers import parse_mimetype
from aiohttp.multipart import parse_content_disposition
from multidict import CIMultiDict

from common.http import ApiError
from proxy import tempurl as rules
from proxy.errors import EXPLANATIONS
from proxy.features.tempurl import digests_from_conf, digests_info, temp_url_keys, unauthorized
from proxy.pipeline import Handler, IterBody, StreamBody, SwiftRequest, SwiftResponse
from proxy.request import MAX_OBJECT_NAME, SwiftPath

if TYPE_CHECKING:
    from proxy.state import ProxyState

#: How many bytes of an attribute's value count (the rest is read and dropped).
MAX_VALUE_LENGTH = 4096
READ_CHUNK = 64 * 1024


class FormInvalid(Exception):
    """A 400: the form itself is wrong."""


class FormUnauthorized(Exception):
    """A 401: no key, a bad signature, or an expired form."""


class FileTooLarge(Exception):
    """A file went past ``max_file_size`` while being uploaded."""


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _text(status: int, body: bytes, headers: dict[str, str] | None = None) -> SwiftResponse:
    return SwiftResponse.of(status, {**(headers or {}), "Content-Type": "text/plain"}, body)


def _error_page(err: ApiError) -> bytes:
    """The body the client would have seen for a failed upload (as proxy/errors.py)."""
    if err.status == 400 and err.message and not err.message.startswith("<"):
        return err.message.encode()
    explanation = err.message or EXPLANATIONS.get(err.status, "")
    return f"<html><h1>{err.title}</h1><p>{explanation}</p></html>".encode()


def _int_attr(attributes: dict[str, str], name: str) -> int:
    """Swift's ``int(attributes.get(name) or 0)``; ValueError when not an integer."""
    return int(attributes.get(name) or 0)


class _Upload:
    """One form submission being translated into object PUTs."""

    def __init__(self, feature: FormPost, req: SwiftRequest, next_handler: Handler,
                 keys: list[str]) -> None:
        self.feature = feature
        self.req = req
        self.next = next_handler
        self.keys = keys
        self.attributes: dict[str, str] = {}
        self.status = 0
        self.message = ""
        self.sub_headers: list[tuple[str, str]] = []
        self.sub_body = b""

    async def run(self, reader: MultipartReader) -> None:
        file_count = 0
        first = True
        while True:
            try:
                part = await reader.next()
            except ValueError as exc:
                if first:
                    raise FormInvalid("invalid starting boundary") from exc
                return  # a broken end of the form: stop where Swift's reader would
            first = False
            if part is None:
                return
            if not isinstance(part, BodyPartReader):  # a nested multipart: no field
                await part.release()
                continue
            disposition, params = parse_content_disposition(
                part.headers.get("Content-Disposition"))
            if disposition == "form-data" and part.filename:
                file_count += 1
                try:
                    max_count = _int_attr(self.attributes, "max_file_count")
                except ValueError:
                    raise FormInvalid("max_file_count not an integer") from None
                if file_count > max_count:
                    self.status, self.message = 400, "max file count exceeded"
                    return
                attrs = dict(self.attributes, filename=part.filename)
                if "content-type" not in self.attributes and "Content-Type" in part.headers:
                    attrs["content-type"] = part.headers["Content-Type"] or \
                        "application/octet-stream"
                if "content-encoding" not in self.attributes and \
                        "Content-Encoding" in part.headers:
                    attrs["content-encoding"] = part.headers["Content-Encoding"]
                await self.upload(attrs, part)
                if self.status // 100 != 2:
                    return
            else:
                data = bytearray()
                while len(data) < MAX_VALUE_LENGTH:
                    chunk = await part.read_chunk(MAX_VALUE_LENGTH - len(data))
                    if not chunk:
                        break
                    data += chunk
                await part.release()
                if "name" in params:
                    value = data.decode("utf-8", "replace").rstrip("\r\n-")
                    self.attributes[params["name"].lower()] = value

    def _check_signature(self, attrs: dict[str, str]) -> None:
        path = self.req.path
        base = "/" + "/".join(p for p in (path.version, path.account, path.container,
                                          path.obj) if p is not None)
        # "/v1/a/c/" reaches us as the container: either spelling may be signed
        paths = [base, base + "/"] if path.obj is None else [base]
        signature = attrs.get("signature", "")
        try:
            digest, given = rules.parse_signature(signature)
        except ValueError:
            raise FormUnauthorized("invalid signature") from None
        if digest not in self.feature.digests:
            raise FormUnauthorized("invalid signature")
        valid = False
        for signed_path in paths:
            message = "\n".join((
                signed_path, attrs.get("redirect") or "", attrs.get("max_file_size") or "0",
                attrs.get("max_file_count") or "0", attrs.get("expires") or "0"))
            for key in self.keys:
                expected = hmac.new(key.encode("utf-8"), message.encode("utf-8"),
                                    digest).hexdigest()
                if hmac.compare_digest(expected.encode("ascii"),
                                       given.encode("ascii", "replace")):
                    valid = True
        if not valid:
            raise FormUnauthorized("invalid signature")

    async def upload(self, attrs: dict[str, str], part: BodyPartReader) -> None:
        if not self.keys:
            raise FormUnauthorized("invalid signature")
        try:
            max_file_size = _int_attr(attrs, "max_file_size")
        except ValueError:
            raise FormInvalid("max_file_size not an integer") from None
        headers = {"Transfer-Encoding": "chunked"}
        for attr, header, unit in (("x_delete_at", "X-Delete-At", "Unix timestamp"),
                                   ("x_delete_after", "X-Delete-After", "Number of seconds")):
            if attr in attrs:
                try:
                    headers[header] = str(int(attrs[attr]))
                except ValueError:
                    raise FormInvalid(f"{attr} not an integer: {unit} required.") from None
        if "content-type" in attrs:
            headers["Content-Type"] = attrs["content-type"] or "application/octet-stream"
        if "content-encoding" in attrs:
            headers["Content-Encoding"] = attrs["content-encoding"]
        try:
            if _int_attr(attrs, "expires") < time.time():
                raise FormUnauthorized("form expired")
        except ValueError:
            raise FormInvalid("expired not an integer") from None
        self._check_signature(attrs)

        path = self.req.path
        assert path.container is not None
        obj = (path.obj or "") + (attrs["filename"] or "filename")
        if len(obj.encode()) > MAX_OBJECT_NAME:
            await part.release()
            self._answer(400, [], f"Object name length of {len(obj.encode())} longer than "
                                  f"{MAX_OBJECT_NAME}".encode())
            return

        async def capped() -> AsyncIterator[bytes]:
            received = 0
            while True:
                chunk = await part.read_chunk(READ_CHUNK)
                if not chunk:
                    return
                received += len(chunk)
                if received > max_file_size:
                    raise FileTooLarge()
                yield chunk

        sub = self.req.sub("PUT", SwiftPath(path.version, path.account, path.container, obj),
                           headers=headers, body=IterBody(capped()), source="formpost",
                           authorized=True)
        try:
            resp = await self.next(sub)
        except FileTooLarge:
            raise FormInvalid("max_file_size exceeded") from None
        except ApiError as err:
            self._answer(err.status, list(err.headers.items()), _error_page(err))
            return
        body = await resp.read()
        self._answer(resp.status, list(resp.headers.items()), body)

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.sub_headers, self.sub_body = status, headers, body
        self.message = ""

    def response(self) -> SwiftResponse:
        if not self.status:
            self.status, self.message = 400, "no files to process"
        headers = {k: v for k, v in self.sub_headers if k.lower().startswith("access-control")}
        redirect = self.attributes.get("redirect")
        if not redirect:
            text = status_line(self.status)
            if self.message:
                text += "\r\nFormPost: " + self.message.title()
            body = text.encode()
            if self.status // 100 != 2 and self.sub_body:
                body = self.sub_body
            return SwiftResponse(self.status, CIMultiDict({**headers,
                                                        "Content-Type": "text/plain"}), body)
        location = redirect + ("&" if "?" in redirect else "?")
        location += f"status={quote(str(self.status))}&message={quote(self.message)}"
        page = (f'<html><body><p><a href="{location}">'
                "Click to continue...</a></p></body></html>").encode()
        return SwiftResponse(303, CIMultiDict({**headers, "Location": location}), page)


class FormPost:
    name: str | None = "formpost"

    def __init__(self, st: ProxyState, digests: frozenset[str]) -> None:
        self.st = st
        self.digests = digests

    def info(self) -> dict[str, Any]:
        return digests_info(self.digests)

    async def __call__(self, req: SwiftRequest, next_handler: Handler) -> SwiftResponse:
        if req.method != "POST" or not isinstance(req.body, StreamBody):
            return await next_handler(req)
        ctype = parse_mimetype(req.headers.get("Content-Type", ""))
        if (ctype.type, ctype.subtype) != ("multipart", "form-data") or \
                "boundary" not in ctype.parameters:
            return await next_handler(req)
        path = req.path
        keys: list[str] = []
        if path.container:
            account_keys, container_keys = await temp_url_keys(
                self.st, req.txn, path.account, path.container)
            keys = account_keys + container_keys
        upload = _Upload(self, req, next_handler, keys)
        try:
            reader = MultipartReader(req.headers, req.body.stream)
            await upload.run(reader)
        except FormInvalid as err:
            return _text(400, f"FormPost: {err}".encode())
        except FormUnauthorized as err:
            return unauthorized(req.method, f"FormPost: {str(err).title()}", path.account)
        return upload.response()


def make(st: ProxyState) -> FormPost | None:
    cfg = st.cfg.proxy
    if not cfg.formpost:
        return None
    return FormPost(st, digests_from_conf(cfg.formpost_allowed_digests))
