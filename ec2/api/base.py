"""What the EC2 front's handlers share: its state, and EC2's error document.

Errors are rendered in one place, from the domain error behind them: an
``ec2.errors`` class carries its EC2 code; any other (shared code's, or a
native service's answer through its client) is named by its status, with the
native service's own message. EC2 answers client errors with 400, but for
``AuthFailure`` (401), ``UnauthorizedOperation`` (403) and ``DryRunOperation``
(412); server errors are ``InternalError`` (500) or ``Unavailable`` (503).
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from common.config import StrataConfig
from common.db import Database
from common.errors import StrataError
from common.http import TXN_ID, ApiError
from ec2.api import xmlview
from ec2.api.auth import Verifier
from ec2.core.context import Settings
from ec2.errors import code_of, native_message
from identity.client import TokenValidator


@dataclass
class Ec2State:
    cfg: StrataConfig
    db: Database
    session: aiohttp.ClientSession
    validator: TokenValidator  # the service user's (its token asks identity for keys)
    verifier: Verifier
    settings: Settings


STATE: web.AppKey[Ec2State] = web.AppKey("ec2_state", Ec2State)

# The code of an error that carries none, by its status.
_BY_STATUS = {
    400: "InvalidParameterValue", 401: "AuthFailure", 403: "UnauthorizedOperation",
    404: "InvalidID", 405: "InvalidAction", 409: "IncorrectState",
    412: "DryRunOperation", 413: "ResourceLimitExceeded", 415: "InvalidParameterValue",
    501: "UnsupportedOperation", 503: "Unavailable",
}
_KEPT = {401, 403, 412, 500, 501, 503}  # statuses EC2 answers as they are


def state(request: web.Request) -> Ec2State:
    return request.app[STATE]


def code_and_status(err: ApiError) -> tuple[str, int]:
    """EC2's code for an error and the status it is answered with."""
    code = (code_of(err.cause) if err.cause is not None else None) or \
        (getattr(err.cause, "code", None) if isinstance(err.cause, StrataError) else None) or \
        _BY_STATUS.get(err.status) or ("InternalError" if err.status >= 500
                                       else "InvalidParameterValue")
    if err.status in _KEPT:
        return str(code), err.status
    return str(code), 503 if err.status > 500 else 400


def ec2_error_format(request: web.Request, err: ApiError) -> web.Response:
    """EC2's ``<Response><Errors><Error><Code>``... document."""
    code, status = code_and_status(err)
    message = native_message(err.cause) if err.cause is not None else err.message
    if status == 500:
        message = "An internal error has occurred"
    body = xmlview.error(code, message, request.get(TXN_ID, ""))
    return web.Response(body=body, status=status, content_type="text/xml",
                        charset="UTF-8", headers=err.headers)
