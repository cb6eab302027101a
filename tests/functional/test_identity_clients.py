"""The real python-openstackclient (and openstacksdk) against identity's system
scope, application credentials, project tags, endpoint groups and OAuth 1.0a."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import openstack

from tests.functional.identity_server import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    IdentityServer,
    unique,
)
from tests.functional.test_openstack_clients import osc, osc_json


def bare_env(server: IdentityServer) -> dict[str, str]:
    """Only the auth URL and API version: the credentials come from the command line."""
    env = {k: v for k, v in server.openrc_env().items() if not k.startswith("OS_")}
    env.update({"OS_AUTH_URL": server.v3, "OS_IDENTITY_API_VERSION": "3",
                "OS_INTERFACE": "public", "OS_REGION_NAME": "RegionOne"})
    return env


def test_system_role_assignments_and_tokens(identity_sqlite: IdentityServer) -> None:
    admin = identity_sqlite.openrc_env()
    name = unique("sysreader")
    osc(admin, "user", "create", "--password", "pw", name)
    osc(admin, "role", "add", "--system", "all", "--user", name, "reader")
    rows = osc_json(admin, "role", "assignment", "list", "--system", "all", "--names")
    assert {"Role": "reader", "User": f"{name}@Default", "Group": "", "Project": "",
            "Domain": "", "System": "all", "Inherited": False} in rows
    assert {(r["Role"], r["User"]) for r in rows} >= {("admin", "admin@Default")}
    env = bare_env(identity_sqlite)
    tok = osc_json(env, "--os-username", name, "--os-password", "pw", "--os-user-domain-name",
                   "Default", "--os-system-scope", "all", "token", "issue")
    assert tok["system"] == "all" and "project_id" not in tok
    # a system reader reads the whole identity model, and changes nothing
    listed = osc_json(env, "--os-username", name, "--os-password", "pw",
                      "--os-user-domain-name", "Default", "--os-system-scope", "all",
                      "project", "list")
    assert {"admin", "demo", "service"} <= {p["Name"] for p in listed}
    denied = osc(env, "--os-username", name, "--os-password", "pw", "--os-user-domain-name",
                 "Default", "--os-system-scope", "all", "project", "create", unique("x"),
                 check=False)
    assert denied.returncode != 0 and "403" in denied.stderr
    osc(admin, "role", "remove", "--system", "all", "--user", name, "reader")
    rows = osc_json(admin, "role", "assignment", "list", "--system", "all", "--names")
    assert f"{name}@Default" not in {r["User"] for r in rows}
    osc(admin, "user", "delete", name)


def test_application_credentials(identity_sqlite: IdentityServer, tmp_path: Path) -> None:
    admin = identity_sqlite.openrc_env()
    name = unique("alice")
    pname = unique("proj")
    osc(admin, "project", "create", pname)
    osc(admin, "user", "create", "--password", "alice-pw", name)
    osc(admin, "role", "add", "--user", name, "--project", pname, "member")
    alice = identity_sqlite.openrc_env(name, "alice-pw", pname)
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"service": "compute", "method": "GET",
                                  "path": "/v2.1/servers"}]))
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%S")
    made = osc_json(alice, "application", "credential", "create", "--role", "reader",
                    "--description", "monitoring", "--expiration", expires,
                    "--access-rules", str(rules), "monitor")
    assert made["Name"] == "monitor" and made["Secret"] and made["Unrestricted"] is False
    assert [r["name"] for r in made["Roles"]] == ["reader"]
    assert made["Expires At"].startswith(expires)
    assert made["Access Rules"][0]["path"] == "/v2.1/servers"
    listed = osc_json(alice, "application", "credential", "list")
    assert [c["Name"] for c in listed] == ["monitor"] and "Secret" not in listed[0]
    shown = osc_json(alice, "application", "credential", "show", "monitor")
    assert shown["ID"] == made["ID"] and "Secret" not in shown
    assert [r["Path"] for r in osc_json(alice, "access", "rule", "list")] == ["/v2.1/servers"]

    # authenticate with it: by id through the CLI, by name through openstacksdk
    env = {**bare_env(identity_sqlite), "OS_AUTH_TYPE": "v3applicationcredential",
           "OS_APPLICATION_CREDENTIAL_ID": made["ID"],
           "OS_APPLICATION_CREDENTIAL_SECRET": made["Secret"]}
    tok = osc_json(env, "token", "issue")
    assert tok["project_id"] == made["Project ID"]
    conn = openstack.connect(
        auth_type="v3applicationcredential", auth={
            "auth_url": identity_sqlite.v3, "application_credential_name": "monitor",
            "application_credential_secret": made["Secret"], "username": name,
            "user_domain_name": "Default"},
        region_name="RegionOne")
    access = conn.session.auth.get_access(conn.session)
    assert access.role_names == ["reader"] and access.project_id == made["Project ID"]
    assert access.application_credential["id"] == made["ID"]
    conn.close()
    # a restricted credential cannot make more credentials
    denied = osc(env, "application", "credential", "create", "more", check=False)
    assert denied.returncode != 0 and "403" in denied.stderr

    osc(alice, "application", "credential", "delete", "monitor")
    assert osc_json(alice, "application", "credential", "list") == []
    failed = osc(env, "token", "issue", check=False)
    assert failed.returncode != 0 and "401" in failed.stderr
    osc(alice, "access", "rule", "delete", made["Access Rules"][0]["id"])
    assert osc_json(alice, "access", "rule", "list") == []
    osc(admin, "user", "delete", name)
    osc(admin, "project", "delete", pname)


def test_project_tags(identity_sqlite: IdentityServer) -> None:
    admin = identity_sqlite.openrc_env()
    red, blue = unique("p"), unique("p")
    osc(admin, "project", "create", "--tag", "red", "--tag", "shared", red)
    osc(admin, "project", "create", blue)
    osc(admin, "project", "set", "--tag", "blue", "--tag", "shared", blue)
    assert sorted(osc_json(admin, "project", "show", blue)["tags"]) == ["blue", "shared"]

    def names(*flags: str) -> set[str]:
        return {p["Name"] for p in osc_json(admin, "project", "list", *flags)} & {red, blue}

    assert names("--tags", "shared,red") == {red}
    assert names("--not-tags", "shared,red") == {blue}
    osc(admin, "project", "set", "--remove-tag", "shared", blue)
    assert osc_json(admin, "project", "show", blue)["tags"] == ["blue"]
    bad = osc(admin, "project", "set", "--tag", "a,b", blue, check=False)
    assert bad.returncode != 0 and "400" in bad.stderr
    osc(admin, "project", "delete", red, blue)


def test_endpoint_groups_filter_the_catalog(identity_sqlite: IdentityServer,
                                            tmp_path: Path) -> None:
    admin = identity_sqlite.openrc_env()
    demo = identity_sqlite.openrc_env("demo", DEMO_PASSWORD, "demo")
    before = osc_json(demo, "catalog", "list")
    assert any(len(s["Endpoints"]) > 1 for s in before)
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps({"interface": "public"}))
    group = osc_json(admin, "endpoint", "group", "create", "--description", "public only",
                     unique("public"), str(filters))
    assert group["filters"] == {"interface": "public"}
    osc(admin, "endpoint", "group", "add", "project", group["name"], "demo")
    assert osc_json(admin, "endpoint", "group", "show", group["id"])["description"] == \
        "public only"
    after = osc_json(demo, "catalog", "list")
    assert after and all(e["interface"] == "public" for s in after for e in s["Endpoints"])
    assert {s["Type"] for s in after} == {s["Type"] for s in before}
    # other projects keep the whole catalog
    assert any(len(s["Endpoints"]) > 1 for s in osc_json(admin, "catalog", "list"))
    osc(admin, "endpoint", "group", "remove", "project", group["id"], "demo")
    assert osc_json(demo, "catalog", "list") == before
    osc(admin, "endpoint", "group", "delete", group["id"])


def test_oauth1_delegation(identity_sqlite: IdentityServer) -> None:
    admin = identity_sqlite.openrc_env()
    consumer = osc_json(admin, "consumer", "create", "--description", "a dashboard")
    assert consumer["secret"] and consumer["description"] == "a dashboard"
    osc(admin, "consumer", "set", "--description", "renamed", consumer["id"])
    assert osc_json(admin, "consumer", "show", consumer["id"])["description"] == "renamed"
    keys = ["--consumer-key", consumer["id"], "--consumer-secret", consumer["secret"]]
    request = osc_json(admin, "request", "token", "create", *keys, "--project", "admin")
    verifier = osc_json(admin, "request", "token", "authorize", "--request-key",
                        request["key"], "--role", "member")["oauth_verifier"]
    access = osc_json(admin, "access", "token", "create", *keys, "--request-key",
                      request["key"], "--request-secret", request["secret"],
                      "--verifier", verifier)
    oauth: list[str] = ["--os-auth-type", "v3oauth1", "--os-consumer-key", consumer["id"],
                        "--os-consumer-secret", consumer["secret"], "--os-access-key",
                        access["key"], "--os-access-secret", access["secret"]]
    tok = osc_json(bare_env(identity_sqlite), *oauth, "token", "issue")
    _, admin_token = identity_sqlite.token()
    assert tok["project_id"] == admin_token["project"]["id"]
    assert tok["user_id"] == admin_token["user"]["id"]
    # the delegated token carries only the authorized role: no admin rights
    denied = osc(bare_env(identity_sqlite), *oauth, "user", "list", check=False)
    assert denied.returncode != 0 and "403" in denied.stderr
    osc(admin, "consumer", "delete", consumer["id"])
    gone = osc(bare_env(identity_sqlite), *oauth, "token", "issue", check=False)
    assert gone.returncode != 0 and "401" in gone.stderr


def test_openstacksdk_system_scope(identity_sqlite: IdentityServer) -> None:
    conn = openstack.connect(
        auth_url=identity_sqlite.v3, username="admin", password=ADMIN_PASSWORD,
        user_domain_name="Default", system_scope="all", region_name="RegionOne")
    access: Any = conn.session.auth.get_access(conn.session)
    assert access.system_scoped and "admin" in access.role_names
    assert {"admin", "demo"} <= {p.name for p in conn.identity.projects()}
    conn.close()
