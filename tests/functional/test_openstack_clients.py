"""The real python-openstackclient and openstacksdk against the identity service."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import openstack
import pytest

from tests.functional.identity_server import ADMIN_PASSWORD, DEMO_PASSWORD, IdentityServer

OPENSTACK = shutil.which("openstack", path=str(Path(sys.executable).parent)) or "openstack"


def osc(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True,
                          timeout=120)
    if check:
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
    return proc


def osc_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(osc(env, *args, "-f", "json").stdout)


def test_openstack_cli_admin_workflow(identity_sqlite: IdentityServer) -> None:
    admin = identity_sqlite.openrc_env()
    tok = osc_json(admin, "token", "issue")
    assert tok["project_id"] and tok["user_id"] and tok["expires"]

    catalog = osc_json(admin, "catalog", "list")
    assert "identity" in {c["Type"] for c in catalog}

    pname, uname = f"proj-{uuid.uuid4().hex[:6]}", f"alice-{uuid.uuid4().hex[:6]}"
    project = osc_json(admin, "project", "create", "--description", "made by a test", pname)
    assert project["name"] == pname and project["domain_id"] == "default"
    user = osc_json(admin, "user", "create", "--password", "alice-pw", uname)
    assert user["name"] == uname and user["enabled"] is True
    osc(admin, "role", "add", "--user", uname, "--project", pname, "member")

    assignments = osc_json(admin, "role", "assignment", "list", "--names", "--user", uname)
    assert [(a["Role"], a["Project"]) for a in assignments] == [("member", f"{pname}@Default")]

    # the new user can work in its project
    alice = identity_sqlite.openrc_env(uname, "alice-pw", pname)
    alice_tok = osc_json(alice, "token", "issue")
    assert alice_tok["project_id"] == project["id"]

    # EC2 credentials: create, list, delete
    cred = osc_json(alice, "ec2", "credentials", "create")
    assert cred["access"] and cred["secret"] and cred["project_id"] == project["id"]
    listed = osc_json(alice, "ec2", "credentials", "list")
    assert cred["access"] in {c["Access"] for c in listed}
    osc(alice, "ec2", "credentials", "delete", cred["access"])
    remaining = osc_json(alice, "ec2", "credentials", "list")
    assert cred["access"] not in {c["Access"] for c in remaining}

    # token revoke: the revoked token no longer works
    victim = osc_json(alice, "token", "issue")["id"]
    osc(admin, "token", "revoke", victim)
    used = subprocess.run(
        [OPENSTACK, "--os-auth-type", "token", "--os-token", victim, "--os-auth-url",
         identity_sqlite.v3, "--os-project-id", project["id"], "project", "show",
         project["id"]],
        env={k: v for k, v in admin.items() if not k.startswith("OS_")},
        capture_output=True, text=True, timeout=120)
    assert used.returncode != 0
    assert "401" in used.stderr or "authenticat" in used.stderr.lower()

    osc(admin, "role", "remove", "--user", uname, "--project", pname, "member")
    osc(admin, "user", "delete", uname)
    osc(admin, "project", "delete", pname)
    assert pname not in {p["Name"] for p in osc_json(admin, "project", "list")}


def test_openstack_cli_member_is_refused_admin_calls(identity_sqlite: IdentityServer) -> None:
    demo = identity_sqlite.openrc_env("demo", DEMO_PASSWORD, "demo")
    tok = osc_json(demo, "token", "issue")
    assert tok["id"]
    denied = osc(demo, "user", "create", "--password", "x", f"eve-{uuid.uuid4().hex[:6]}",
                 check=False)
    assert denied.returncode != 0
    assert "403" in denied.stderr


def test_openstack_cli_wrong_password(identity_sqlite: IdentityServer) -> None:
    bad = identity_sqlite.openrc_env("admin", "not-the-password", "admin")
    proc = osc(bad, "token", "issue", check=False)
    assert proc.returncode != 0
    assert "401" in proc.stderr


def test_openstacksdk_lists_projects_and_its_catalog(identity_sqlite: IdentityServer) -> None:
    conn = openstack.connect(
        auth_url=identity_sqlite.v3, username="admin", password=ADMIN_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne", identity_interface="public",
    )
    names = {p.name for p in conn.identity.projects()}
    assert {"admin", "demo", "service"} <= names
    types = {entry["type"] for entry in conn.service_catalog}
    assert "identity" in types
    me = conn.identity.get_user(conn.current_user_id)
    assert me.name == "admin"
    roles = {r.name for r in conn.identity.roles()}
    assert {"admin", "member", "reader"} <= roles
    conn.close()


def test_openstacksdk_member_sees_only_its_own(identity_sqlite: IdentityServer) -> None:
    conn = openstack.connect(
        auth_url=identity_sqlite.v3, username="demo", password=DEMO_PASSWORD,
        project_name="demo", user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne",
    )
    mine = [p.name for p in conn.identity.user_projects(conn.current_user_id)]
    assert mine == ["demo"]
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(conn.identity.users())
    conn.close()
