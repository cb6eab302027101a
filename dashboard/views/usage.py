"""The usage summaries of Project → Overview (the project's instances over a period)
and Admin → Overview (every project's), and the project's "Download CSV Summary"
(the Admin tab's is with its page, in :mod:`dashboard.views.admin`): compute's
``os-simple-tenant-usage`` with the user's own token (showing every project's is
an admin's call in compute's policy)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from common.errors import BadRequest
from dashboard.apis import Apis
from dashboard.usage import Period, Usage, merge, project_csv
from dashboard.web import SESSION, apis, attachment, attempt

routes = web.RouteTableDef()
PROJECT_CSV = "/project/usage.csv"


def today() -> date:
    return datetime.now(UTC).date()


async def usages(api: Apis, period: Period, project_id: str = "") -> dict[str, Usage]:
    """Each project's usage over ``period`` (one project's, given its id)."""
    return merge(await api.compute.usage_pages(period.params(), project_id))


async def summary(request: web.Request, *, every_project: bool) -> dict[str, Any]:
    """The usage section's context: the period form's values, the period (None when
    the form's dates are not dates), the usage by project (the current project's
    alone unless ``every_project``) and what went wrong, if anything."""
    api = apis(request)
    query = request.query
    ctx: dict[str, Any] = {"usage_shown": api.has("compute"), "usage_period": None,
                           "usages": {}, "usage_error": ""}
    try:
        period = Period.of(query, today())
    except BadRequest as exc:
        ctx.update(usage_form={"start": query.get("start", ""), "end": query.get("end", "")},
                   usage_error=exc.message)
        return ctx
    ctx.update(usage_period=period, usage_form={"start": period.start.isoformat(),
                                                "end": period.end.isoformat()})
    if not ctx["usage_shown"]:
        return ctx
    pid = "" if every_project else request[SESSION].project.id
    ctx["usages"], ctx["usage_error"] = await attempt(usages(api, period, pid), {})
    return ctx


@routes.get(PROJECT_CSV)
async def project_summary_csv(request: web.Request) -> web.Response:
    period = Period.of(request.query, today())
    project = request[SESSION].project
    found = await usages(apis(request), period, project.id)
    usage = found.get(project.id) or Usage(project.id, (), 0.0, 0.0, 0.0)
    return attachment(project_csv(project.name, period, usage),
                      f"{project.name}-usage-{period.start}-{period.end}.csv", "text/csv")


def by_name(found: dict[str, Usage], names: dict[str, str]) -> list[tuple[str, Usage]]:
    """(project name, else its id; usage), sorted by name."""
    return sorted(((names.get(pid, pid), u) for pid, u in found.items()),
                  key=lambda r: (r[0].lower(), r[1].project_id))
