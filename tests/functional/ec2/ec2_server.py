"""A real Strata for the EC2 front's tests: ``strata up -d`` of identity, the image
service (file store), the block store, the networking service (data path off),
compute (its in-memory hypervisor) and the EC2 front, users in three projects and a
reader, EC2 credentials made through identity's OS-EC2 API (what ``openstack ec2
credentials create`` calls), boto3 ``ec2`` clients, raw signed requests, the ``aws``
CLI and the ``openstack`` CLI."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.auth import SigV2Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from ec2.client import Ec2Client
from tests.cloud import running_strata
from tests.functional.network.network_server import READER_PASSWORD, NetworkCloud

NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
# Compute runs on its in-memory hypervisor: instances go through every step but the
# guest itself, so RunInstances and the state changes are checked fast.
SETTINGS = {"STRATA_OBJECTSTORE_ENABLED": "false", "STRATA_PROXY_ENABLED": "false",
            "STRATA_IMAGESTORE_STORE": "file", "STRATA_COMPUTE_ENABLED": "true",
            "STRATA_COMPUTE_VIRT_DRIVER": "memory", "STRATA_COMPUTE_SHUTDOWN_TIMEOUT": "5",
            "STRATA_COMPUTE_RESYNC_INTERVAL": "2", "STRATA_COMPUTE_REPORT_INTERVAL": "2"}


class SignedAt(SigV4Auth):
    """botocore's SigV4 signer at a given time (botocore signs at its clock's now)."""

    def __init__(self, credentials: Credentials, when: datetime.datetime) -> None:
        super().__init__(credentials, "ec2", "RegionOne")
        self._when = when

    def add_auth(self, request: AWSRequest) -> None:
        request.context["timestamp"] = self._when.strftime("%Y%m%dT%H%M%SZ")
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, signature)


@dataclass(frozen=True)
class Ec2Credential:
    access: str
    secret: str
    project_id: str
    user_id: str


@dataclass(frozen=True)
class Reply:
    """A raw answer: its status, and its XML (or error code and message)."""

    status: int
    root: ElementTree.Element
    headers: dict[str, str]

    @property
    def code(self) -> str:
        return self.root.findtext("Errors/Error/Code") or ""

    @property
    def message(self) -> str:
        return self.root.findtext("Errors/Error/Message") or ""


class Ec2Cloud(NetworkCloud):
    @property
    def ec2_url(self) -> str:
        return self.url("ec2")

    def credential(self, who: str) -> Ec2Credential:
        """An EC2 credential of ``who`` (``admin``, ``demo``, ``third``, ``reader``) in its
        project, made as ``openstack ec2 credentials create`` makes one."""
        password = READER_PASSWORD if who == "reader" else (
            "third-secret" if who == "third" else str(self.secrets[f"{who}_password"]))
        token, project = self.login(who, password, "demo" if who == "reader" else who)
        me = requests.get(self.identity_url + "/v3/auth/tokens", timeout=30, headers={
            "X-Auth-Token": token, "X-Subject-Token": token}).json()["token"]["user"]["id"]
        r = requests.post(f"{self.identity_url}/v3/users/{me}/credentials/OS-EC2",
                          headers={"X-Auth-Token": token}, json={"tenant_id": project},
                          timeout=30)
        assert r.status_code == 201, r.text
        cred = r.json()["credential"]
        return Ec2Credential(cred["access"], cred["secret"], project, me)

    def client(self, cred: Ec2Credential, region: str = "RegionOne") -> Any:
        """boto3's ``ec2`` client with ``cred``, no retries (errors are what we test)."""
        return boto3.client("ec2", endpoint_url=self.ec2_url, region_name=region,
                            aws_access_key_id=cred.access, aws_secret_access_key=cred.secret,
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    def raw(self, cred: Ec2Credential | None, params: dict[str, str], *,
            signer: str = "v4", secret: str | None = None, method: str = "POST",
            headers: dict[str, str] | None = None,
            at: datetime.datetime | None = None) -> Reply:
        """A request signed by botocore's SigV4 (at time ``at``) or SigV2 signer (or not
        at all), with ``secret`` instead of the credential's when given."""
        params = {"Version": "2016-11-15", **params}
        url = self.ec2_url + "/"
        if method == "POST":
            req = AWSRequest(method="POST", url=url, data=params, headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                **(headers or {})})
        else:
            req = AWSRequest(method="GET", url=url, params=params, headers=headers or {})
        if cred is not None:
            creds = Credentials(cred.access, secret or cred.secret)
            if signer == "v4" and at is not None:
                SignedAt(creds, at).add_auth(req)
            elif signer == "v4":
                SigV4Auth(creds, "ec2", "RegionOne").add_auth(req)
            else:
                SigV2Auth(creds).add_auth(req)
        prepared = req.prepare()
        r = requests.request(prepared.method, prepared.url, headers=dict(prepared.headers),
                             data=prepared.body, timeout=60)
        return Reply(r.status_code, ElementTree.fromstring(r.content), dict(r.headers))

    def aws(self, cred: Ec2Credential, *args: str, check: bool = True) -> Any:
        """``aws ec2 <args> --output json`` with ``cred``; its JSON (None when empty)."""
        exe = shutil.which("aws")
        assert exe, "the aws CLI is missing (./strata test installs awscli)"
        home = self.home / "aws-home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OS_"))}
        env.update(HOME=str(home), AWS_ACCESS_KEY_ID=cred.access,
                   AWS_SECRET_ACCESS_KEY=cred.secret, AWS_DEFAULT_REGION="RegionOne",
                   AWS_MAX_ATTEMPTS="1", PATH=f"{Path(sys.executable).parent}:"
                   f"{env.get('PATH', '')}")
        r = subprocess.run([exe, "--endpoint-url", self.ec2_url, "ec2", *args, "--output",
                            "json"], env=env, capture_output=True, text=True, timeout=120,
                           check=False)
        if not check:
            return r
        assert r.returncode == 0, f"aws ec2 {' '.join(args)}: {r.stdout}{r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else None


@contextlib.contextmanager
def ec2_cloud(tmp: pytest.TempPathFactory, **extra: str) -> Iterator[Ec2Cloud]:
    """``strata up -d`` of the services the EC2 front stands on, and the front."""
    with running_strata(tmp, "strata-ec2", **{**SETTINGS, **extra}) as env:
        cloud = Ec2Cloud(env)
        cloud.add_third_user()
        cloud.add_reader()
        yield cloud


def native_ids(cloud: Ec2Cloud, kind: str, uuids: list[str],
               prefixes: dict[str, str] | None = None) -> dict[str, str]:
    """The EC2 ids of native resources, as ``ec2.client`` gives them to compute (with the
    service user's token)."""
    token, _ = cloud.login("strata-service", str(cloud.secrets["service_password"]),
                           "service")

    async def ask() -> dict[str, str]:
        client = Ec2Client(cloud.ec2_url, token)
        try:
            return await client.ec2_ids(kind, uuids, prefixes)
        finally:
            await client.close()

    return asyncio.run(ask())


def private_subnet(client: Any) -> str:
    """The EC2 id of the subnet of demo's network ``private`` (10.0.0.0/26)."""
    (vpc,) = client.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.0.0.0/26"]}])[
        "Vpcs"]
    subnets = client.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])
    return str(subnets["Subnets"][0]["SubnetId"])
