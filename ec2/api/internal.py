"""The front's one internal call: EC2 ids of native resources, for compute's metadata
service (``/latest/meta-data/instance-id`` is the server's ``i-`` id).

``POST /internal/ids`` with ``{"kind": "instance", "uuids": [...]}`` answers
``{"ids": {uuid: ec2 id}}``, giving ids to resources seen for the first time (an
image's prefix then follows its ``prefixes`` entry: ``aki``/``ari``). Only other
Strata services (the ``service`` role) and admins may ask. ``ec2.client`` is the
client.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.errors import Unauthorized
from common.http import json_body
from ec2.api.base import state
from ec2.core import ids
from ec2.core.context import run_retrying
from ec2.errors import InvalidParameterValue, UnauthorizedOperation

routes = web.RouteTableDef()
MAX_UUIDS = 1000
KINDS = {k.name: k for k in ids.KINDS}


def _request(body: Any) -> tuple[ids.Kind, dict[str, str]]:
    if not isinstance(body, dict):
        raise InvalidParameterValue("A JSON object is expected")
    kind = KINDS.get(str(body.get("kind")))
    uuids, prefixes = body.get("uuids"), body.get("prefixes") or {}
    if kind is None or not isinstance(uuids, list) or not isinstance(prefixes, dict) or \
            not all(isinstance(u, str) and 0 < len(u) <= 255 for u in uuids) or \
            len(uuids) > MAX_UUIDS:
        raise InvalidParameterValue(f"Expected {{\"kind\": one of {sorted(KINDS)}, "
                                    f"\"uuids\": [at most {MAX_UUIDS} ids]}}")
    wanted = {}
    for uuid in uuids:
        prefix = prefixes.get(uuid, kind.prefixes[0])
        if prefix not in kind.prefixes:
            raise InvalidParameterValue(f"{prefix!r} is not a prefix of {kind.name} ids")
        wanted[uuid] = prefix
    return kind, wanted


@routes.post("/internal/ids")
async def ec2_ids(request: web.Request) -> web.Response:
    st = state(request)
    info = await st.validator.validate(request.headers.get("X-Auth-Token", ""))
    if info is None:
        raise Unauthorized("Authentication required")
    if not {"service", "admin"} & info.roles:
        raise UnauthorizedOperation("Only Strata services ask for EC2 ids.")
    kind, wanted = _request(await json_body(request))

    def work(s: Any) -> dict[str, str]:
        return ids.assign(s, kind, wanted)

    found = await run_retrying(st.db, work) if wanted else {}
    return web.json_response({"ids": found})
