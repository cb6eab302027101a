"""Swift's client-facing error bodies: small HTML pages, as the real Swift sends."""

from __future__ import annotations

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


def swift_error(request: web.Request, err: ApiError) -> web.Response:
    """``<html><h1>Title</h1><p>explanation</p></html>``; plain text for 4xx with a reason."""
    explanation = err.message or EXPLANATIONS.get(err.status, "")
    headers = dict(err.headers)
    if request.method == "HEAD":
        return web.Response(status=err.status, headers=headers)
    if err.status == 400 and err.message and not err.message.startswith("<"):
        return web.Response(status=400, text=err.message, headers=headers)
    body = f"<html><h1>{err.title}</h1><p>{explanation}</p></html>"
    return web.Response(status=err.status, text=body, content_type="text/html",
                        charset="UTF-8", headers=headers)


def fail(status: int, message: str = "", **headers: str) -> ApiError:
    return ApiError(status, message or EXPLANATIONS.get(status, ""), headers=headers)


def map_error(exc: Exception) -> ApiError | None:
    """A client that hung up mid-request is Swift's 499, not a server error (500)."""
    gone = client_gone(exc)
    return fail(499) if gone else None
