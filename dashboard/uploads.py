"""Files uploaded through the dashboard, streamed on to the service that keeps them.

A browser sends an upload as ``multipart/form-data`` with the form's fields
first and the file last (the order of the form). :func:`read_upload` reads the
fields (the CSRF token among them, checked before a byte of the file is read),
then hands the file part over to be read chunk by chunk: nothing is buffered
whole, so an image or an object of gigabytes passes through in constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, web

from dashboard.web import CSRF_FIELD, Denied, check_upload_csrf

CHUNK = 1 << 20
FIELD_LIMIT = 64 * 1024  # largest text field of an upload form
MAX_FIELDS = 64


@dataclass
class Upload:
    fields: dict[str, str]
    file: BodyPartReader | None  # None when the form had no file part
    filename: str = ""

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes as they arrive."""
        assert self.file is not None
        return _chunks(self.file)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while True:
        chunk = await part.read_chunk(CHUNK)
        if not chunk:
            return
        yield chunk


async def _text(part: BodyPartReader) -> str:
    buf = bytearray()
    while True:
        chunk = await part.read_chunk(8192)
        if not chunk:
            break
        buf += chunk
        if len(buf) > FIELD_LIMIT:
            raise Denied(413, f"The form field {part.name} is too large.")
    return buf.decode("utf-8", errors="replace")


async def read_upload(request: web.Request) -> Upload:
    """The form's fields, and its file part ready to be read (CSRF checked first)."""
    if request.content_type != "multipart/form-data":
        raise Denied(400, "An upload must be sent as multipart/form-data.")
    reader = await request.multipart()
    fields: dict[str, str] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise Denied(400, "Nested multipart bodies are not accepted.")
        if part.filename is not None:
            check_upload_csrf(request, fields.get(CSRF_FIELD, ""))
            return Upload(fields, part, part.filename)
        if len(fields) >= MAX_FIELDS:
            raise Denied(413, "The form has too many fields.")
        fields[part.name or ""] = await _text(part)
    check_upload_csrf(request, fields.get(CSRF_FIELD, ""))
    return Upload(fields, None)
