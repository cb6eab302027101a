"""The EC2 Query API's one route: parse the request, check its signature, dispatch its
``Action`` through the table, render the answer.

Parse first: the parameters (query string, then a form body) become a
:class:`~ec2.params.Params` tree; the signature is checked before anything else
is looked at; then ``Action`` picks its coroutine from :data:`ACTIONS`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from aiohttp import web

from common.caller import Caller
from common.http import TXN_ID
from ec2 import policy
from ec2.api import auth, xmlview
from ec2.api.base import state
from ec2.core import (
    addresses,
    attachments,
    images,
    instances,
    instattrs,
    keypairs,
    regions,
    secgroups,
    tagging,
    volumes,
    vpcs,
)
from ec2.core.context import Action, Ctx
from ec2.errors import DryRunOperation, InvalidAction, InvalidParameterValue, MissingParameter
from ec2.params import Params

# Every action the front serves, by name.
ACTIONS: dict[str, Action] = {
    **regions.ACTIONS, **images.ACTIONS, **volumes.ACTIONS, **addresses.ACTIONS,
    **secgroups.ACTIONS, **tagging.ACTIONS, **vpcs.ACTIONS, **keypairs.ACTIONS,
    **instances.ACTIONS, **attachments.ACTIONS, **instattrs.ACTIONS,
}
MAX_FIELDS = 10000
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
FORM = "application/x-www-form-urlencoded"

routes = web.RouteTableDef()


def decode_pairs(raw_query: str, body: bytes) -> list[tuple[str, str]]:
    """The request's parameters: the query string's, then the form body's."""
    try:
        text = body.decode()
        return (parse_qsl(raw_query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
                + parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except (UnicodeDecodeError, ValueError):
        raise InvalidParameterValue("The request's parameters could not be decoded (a form "
                                    "of UTF-8 name=value pairs is expected).") from None


def action_of(params: Params) -> tuple[str, str]:
    """(the action's name, the API version the answer's namespace names)."""
    name = params.text("Action")
    if not name:
        raise MissingParameter("The request must contain the parameter Action")
    version = params.text("Version") or xmlview.DEFAULT_VERSION
    if not _VERSION.fullmatch(version):
        raise InvalidParameterValue(f"Invalid API version '{version[:32]}'")
    return name, version


@routes.route("*", "/")
async def query_api(request: web.Request) -> web.Response:
    st = state(request)
    if request.method not in ("GET", "POST"):
        raise InvalidAction(f"The method {request.method} is not allowed: the Query API "
                            "takes GET and POST.")
    body = b""
    if request.method == "POST":
        if request.body_exists and request.content_type != FORM:
            raise InvalidParameterValue(f"The body must be {FORM}.")
        body = await request.read()
    raw_query = request.rel_url.raw_query_string
    pairs = decode_pairs(raw_query, body)
    signed = auth.parse(request.method, request.rel_url.raw_path, raw_query,
                        request.headers.items(), body, pairs,
                        regions=(st.settings.region, "us-east-1"))
    verified = await st.verifier.verify(signed)
    params = Params.parse(pairs)
    name, version = action_of(params)
    handler = ACTIONS.get(name)
    if handler is None:
        raise InvalidAction(f"The action {name[:64]} is not valid for this web service.")
    info = verified.info
    caller = Caller(user_id=info.user_id, project_id=info.project_id, roles=info.roles,
                    token=verified.token, request_id=request[TXN_ID])
    policy.check(caller, name)
    if params.boolean("DryRun"):
        raise DryRunOperation("Request would have succeeded, but DryRun flag is set.")
    ctx = Ctx(caller=caller, db=st.db, cfg=st.cfg, settings=st.settings, session=st.session,
              request_id=request[TXN_ID])
    answer = await handler(ctx, params)
    return web.Response(body=xmlview.response(name, version, request[TXN_ID], answer),
                        content_type="text/xml", charset="UTF-8")
