"""Project → API Access: the endpoints of the user's catalog, an OpenStack RC file for
this user and project, and EC2 credentials (for the S3 and EC2 APIs)."""

from __future__ import annotations

from aiohttp import web

from common.openrc import exports
from dashboard.apis import q
from dashboard.web import CFG, SESSION, act, apis, attachment, attempt, field, form, render

routes = web.RouteTableDef()
PAGE = "/project/api_access/"
# The RC file asks for the password unless OS_PASSWORD is already set: the dashboard
# never has it (nor writes a token into a file that outlives the session).
PASSWORD_PROMPT = """if [ -z "${OS_PASSWORD:-}" ]; then
    echo "Please enter your OpenStack password for project $OS_PROJECT_NAME as user $OS_USERNAME: "
    read -sr OS_PASSWORD_INPUT
    export OS_PASSWORD="$OS_PASSWORD_INPUT"
fi
"""


@routes.get(PAGE)
async def index(request: web.Request) -> web.Response:
    session = request[SESSION]
    api = apis(request)
    creds, error = await attempt(
        api.identity.get(f"/users/{q(session.user_id)}/credentials/OS-EC2"), {})
    mine = [c for c in (creds or {}).get("credentials", [])
            if c.get("tenant_id") == session.project.id]
    endpoints = sorted(session.endpoints.values(), key=lambda e: e.type)
    return render(request, "access.html", title="API Access", endpoints=endpoints,
                  credentials=mine, error=error)


@routes.get(PAGE + "openrc")
async def openrc(request: web.Request) -> web.Response:
    session = request[SESSION]
    auth_url = session.endpoint("identity") or request.app[CFG].identity_url() + "/v3"
    values = [
        ("OS_AUTH_URL", auth_url), ("OS_PROJECT_ID", session.project.id),
        ("OS_PROJECT_NAME", session.project.name),
        ("OS_PROJECT_DOMAIN_ID", session.project.domain_id or session.domain_id),
        ("OS_USERNAME", session.user_name),
        ("OS_USER_DOMAIN_NAME", session.domain_name or session.domain_id),
        ("OS_REGION_NAME", session.region), ("OS_INTERFACE", "public"),
        ("OS_IDENTITY_API_VERSION", "3"),
    ]
    text = exports(f"Strata credentials for {session.user_name} in project "
                   f"{session.project.name}; source this file.", values, PASSWORD_PROMPT)
    filename = f"{session.project.name}-openrc.sh"
    return attachment(text, filename, "application/x-sh")


@routes.post(PAGE + "ec2")
async def create_ec2(request: web.Request) -> web.Response:
    session = request[SESSION]
    api = apis(request)

    async def work() -> None:
        await api.identity.post(f"/users/{q(session.user_id)}/credentials/OS-EC2",
                                {"tenant_id": session.project.id})

    return await act(request, PAGE, "EC2 credentials were created.", work)


@routes.post(PAGE + "ec2/delete")
async def delete_ec2(request: web.Request) -> web.Response:
    data = await form(request)
    session = request[SESSION]
    api = apis(request)

    async def work() -> None:
        access = field(data, "access", label="Access key")
        await api.identity.delete(f"/users/{q(session.user_id)}/credentials/OS-EC2/"
                                  f"{q(access)}")

    return await act(request, PAGE, "The EC2 credentials were deleted.", work)
