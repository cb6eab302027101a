"""Swift's client-facing error bodies, as the real Swift sends them.

An error raised without words of its own (``fail(404)``) is Swift's small HTML
page, ``<html><h1>Title</h1><p>explanation</p></html>``; one raised with a
message (``fail(412, "Bad URL")``) answers that message as it is, the way
swob sends an explicit ``body=``: plain text for the request checks that Swift
words in ``text/plain`` (400, 411, 413), swob's ``text/html`` otherwise. A 401
carries swob's ``Www-Authenticate: Swift realm="<account>"``.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from aiohttp import web

from common.http import ApiError, client_gone

# Swift's own words for each status.
EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed "
         "or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document "
         "you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method is not allowed for this resource.",
    409: "There was a conflict when trying to complete your request.",
    411: "Length Required",
    412: "A precondition for this request was not met.",
    413: "The body of your request was too large for this server.",
    416: "The Range requested is not available.",
    422: "Unable to process the contained instructions",
    499: "The client disconnected during request.",
    500: "The server has either erred or is incapable of performing the requested "
         "operation.",
    503: "The server is currently unavailable. Please try again at a later time.",
    507: "There was not enough space to save the resource.",
}
HTML = "text/html; charset=UTF-8"
TEXT = "text/plain"
# Statuses whose worded answers Swift's request checks send as plain text.
PLAIN_TEXT_STATUSES = frozenset({400, 411, 413})


class SwiftError(ApiError):
    """An :class:`ApiError` that knows whether it was worded by its raiser."""

    def __init__(self, status: int, message: str, *, worded: bool, content_type: str,
                 headers: dict[str, str]) -> None:
        super().__init__(status, message, headers=headers)
        self.worded = worded
        self.content_type = content_type


def realm(path: str) -> str:
    """The realm of swob's ``Www-Authenticate``: the account a path names, else unknown."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] or not parts[1] or not parts[2] \
            or parts[2] in ("v1.0", "auth"):
        return "unknown"
    return quote(unquote(parts[2]))


def www_authenticate(path: str) -> str:
    return f'Swift realm="{realm(path)}"'


def swift_error(request: web.Request, err: ApiError) -> web.Response:
    headers = dict(err.headers)
    if err.status == 401 and not any(k.lower() == "www-authenticate" for k in headers):
        headers["Www-Authenticate"] = www_authenticate(request.raw_path.split("?", 1)[0])
    if request.method == "HEAD":
        return web.Response(status=err.status, headers=headers)
    worded = getattr(err, "worded", bool(err.message) and
                     err.message != EXPLANATIONS.get(err.status))
    if worded and err.message:
        ctype = getattr(err, "content_type", None) or (
            TEXT if err.status in PLAIN_TEXT_STATUSES else HTML)
        headers.setdefault("Content-Type", ctype)
        return web.Response(status=err.status, body=err.message.encode(), headers=headers)
    explanation = err.message or EXPLANATIONS.get(err.status, "")
    body = f"<html><h1>{err.title}</h1><p>{explanation}</p></html>"
    return web.Response(status=err.status, text=body, content_type="text/html",
                        charset="UTF-8", headers=headers)


def fail(status: int, message: str = "", *, content_type: str = "",
         **headers: str) -> ApiError:
    """Swift's answer ``status``: with ``message`` that message as the body (of
    ``content_type``, else the status's usual type), without it Swift's page."""
    return SwiftError(status, message or EXPLANATIONS.get(status, ""), worded=bool(message),
                      content_type=content_type, headers=headers)


def map_error(exc: Exception) -> ApiError | None:
    """A client that hung up mid-request is Swift's 499, not a server error (500)."""
    gone = client_gone(exc)
    return fail(499) if gone else None
