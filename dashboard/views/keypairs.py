"""Project → Compute → Key Pairs: list, create (compute generates the pair; its private
key is offered for download once, as a ``.pem`` file, and never kept), import a public
key, delete."""

from __future__ import annotations

from aiohttp import web

from dashboard.web import SESSION, Denied, act, apis, attachment, attempt, field, form, render

routes = web.RouteTableDef()
LIST = "/project/key_pairs/"
PENDING = "keypair"  # session.extra: the private key not yet downloaded


@routes.get(LIST)
async def index(request: web.Request) -> web.Response:
    keypairs, error = await attempt(apis(request).compute.list_keypairs(), [])
    pending = request[SESSION].extra.get(PENDING)
    return render(request, "compute/key_pairs.html", title="Key Pairs",
                  keypairs=sorted(keypairs or [], key=lambda k: str(k.get("name"))),
                  error=error, pending=pending["name"] if pending else "")


@routes.post(LIST + "create")
async def create(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    session = request[SESSION]
    name = str(data.get("name", "")).strip()

    async def work() -> None:
        made = await api.compute.create_keypair(field(data, "name", label="Key pair name"))
        # Compute answers the private key this once; the session holds it until the
        # user downloads it (or makes another), and the dashboard keeps it nowhere else.
        session.extra[PENDING] = {"name": made["name"], "key": made["private_key"]}

    return await act(request, LIST, f"Key pair {name} was created: download its private "
                                    "key now, it is not kept.", work)


@routes.get(LIST + "download/{name}")
async def download(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    extra = request[SESSION].extra
    pending = extra.get(PENDING)
    if not pending or pending["name"] != name:
        raise Denied(404, f"The private key of key pair {name} was offered once and is "
                          "not kept: delete the key pair and create a new one.")
    del extra[PENDING]
    return attachment(pending["key"], f"{name}.pem", "application/x-pem-file")


@routes.post(LIST + "import")
async def import_key(request: web.Request) -> web.Response:
    data = await form(request)
    api = apis(request)
    name = str(data.get("name", "")).strip()

    async def work() -> None:
        await api.compute.create_keypair(field(data, "name", label="Key pair name"),
                                         field(data, "public_key", label="Public key"))

    return await act(request, LIST, f"Key pair {name} was imported.", work)


@routes.post(LIST + "{name}/delete")
async def delete(request: web.Request) -> web.Response:
    api = apis(request)
    name = request.match_info["name"]

    async def work() -> None:
        await api.compute.delete_keypair(name)
        extra = request[SESSION].extra
        if extra.get(PENDING, {}).get("name") == name:
            del extra[PENDING]

    return await act(request, LIST, f"Key pair {name} was deleted.", work)
