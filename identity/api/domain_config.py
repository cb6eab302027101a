"""Domain-specific configuration: ``/v3/domains/{domain_id}/config[/{group}[/{option}]]``
and the defaults at ``/v3/domains/config[/{group}[/{option}]]/default``. The rules
are in :mod:`identity.domain_config`; the configuration is stored, not applied
(Strata has no LDAP identity backend)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from identity import core, policy, schemas
from identity import domain_config as dc
from identity import models as m
from identity.api.base import IdentityState, authenticate, body_of, json_response, no_content
from identity.api.base import state as app_state

routes = web.RouteTableDef()

CONFIG = "/v3/domains/{did}/config"
DEFAULT = "/v3/domains/config"


async def _caller(request: web.Request, action: str) -> IdentityState:
    ctx = await authenticate(request)
    policy.enforce(action, ctx)
    mi = request.match_info
    if "group" in mi:
        dc.check_group(mi["group"], mi.get("option"))
    return app_state(request)


def _domain(s: Session, request: web.Request) -> str:
    return str(core.get_or_404(s, m.Domain, request.match_info["did"], "domain").id)


@routes.get(DEFAULT + "/default")
@routes.get(DEFAULT + "/{group}/default")
@routes.get(DEFAULT + "/{group}/{option}/default")
async def show_default(request: web.Request) -> web.Response:
    await _caller(request, "get_domain_config_default")
    mi = request.match_info
    return json_response({"config": dc.defaults(mi.get("group"), mi.get("option"))})


@routes.put(CONFIG)
async def create(request: web.Request) -> web.Response:
    st = await _caller(request, "create_domain_config")
    config = dc.check_config((await body_of(request, schemas.DOMAIN_CONFIG))["config"])

    def run(s: Session) -> tuple[bool, dict[str, Any]]:
        did = _domain(s, request)
        created = dc.replace(s, did, config)
        return created, dc.shown(s, did)

    created, shown = await st.db.run(run)
    return json_response({"config": shown}, status=201 if created else 200)


@routes.get(CONFIG)
@routes.get(CONFIG + "/{group}")
@routes.get(CONFIG + "/{group}/{option}")
async def show(request: web.Request) -> web.Response:
    st = await _caller(request, "get_domain_config")
    mi = request.match_info
    group, option = mi.get("group"), mi.get("option")

    def run(s: Session) -> dict[str, Any]:
        config = dc.shown(s, _domain(s, request), group, option)
        if group is None:
            return config
        if option is None:
            return {group: config[group]}
        return {option: config[group][option]}

    return json_response({"config": await st.db.run(run)})


@routes.patch(CONFIG)
@routes.patch(CONFIG + "/{group}")
@routes.patch(CONFIG + "/{group}/{option}")
async def update(request: web.Request) -> web.Response:
    st = await _caller(request, "update_domain_config")
    mi = request.match_info
    group, option = mi.get("group"), mi.get("option")
    config = (await body_of(request, schemas.DOMAIN_CONFIG))["config"]
    if option is not None:
        if list(config) != [option]:
            raise dc.InvalidDomainConfig(
                f"Trying to update option {option} in group {group}, so that, and only "
                "that, option must be specified in the config.")
        config = {str(group): config}
    dc.check_config(config)

    def run(s: Session) -> dict[str, Any]:
        did = _domain(s, request)
        dc.update(s, did, config, group, option)
        return dc.shown(s, did)

    return json_response({"config": await st.db.run(run)})


@routes.delete(CONFIG)
@routes.delete(CONFIG + "/{group}")
@routes.delete(CONFIG + "/{group}/{option}")
async def delete(request: web.Request) -> web.Response:
    st = await _caller(request, "delete_domain_config")
    mi = request.match_info
    await st.db.run(lambda s: dc.remove(s, _domain(s, request), mi.get("group"),
                                        mi.get("option")))
    return no_content()
