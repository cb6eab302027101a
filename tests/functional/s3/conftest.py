"""A real private Strata for the S3 API tests (the Swift tests' fixture), and EC2
credentials made through the identity API, as ``openstack ec2 credentials create`` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.functional.swift.conftest import StrataInstance, SwiftUser
from tests.functional.swift.conftest import strata_swift as strata_swift


@dataclass
class Ec2Credential:
    access: str
    secret: str
    project_id: str
    user_id: str


def make_ec2_credential(strata: StrataInstance, rc_name: str = "demo-openrc") -> Ec2Credential:
    rc = strata.openrc(rc_name)
    auth = rc["OS_AUTH_URL"].rstrip("/")
    body: dict[str, Any] = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": rc["OS_USERNAME"], "domain": {"name": "Default"},
            "password": rc["OS_PASSWORD"]}}},
        "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}}}}
    r = requests.post(auth + "/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    token, tok = r.headers["X-Subject-Token"], r.json()["token"]
    user, project = tok["user"]["id"], tok["project"]["id"]
    r = requests.post(f"{auth}/users/{user}/credentials/OS-EC2", timeout=30,
                      headers={"X-Auth-Token": token}, json={"tenant_id": project})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    return Ec2Credential(cred["access"], cred["secret"], project, user)


@pytest.fixture(scope="module")
def ec2(strata_swift: StrataInstance) -> Ec2Credential:
    return make_ec2_credential(strata_swift)


@pytest.fixture(scope="module")
def demo_swift(strata_swift: StrataInstance) -> SwiftUser:
    return strata_swift.user("demo")
