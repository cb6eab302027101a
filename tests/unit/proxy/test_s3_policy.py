"""S3 bucket policies: the language parsed and evaluated without any server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.s3.errors import S3Error
from proxy.s3.policy import ALLOW, DENY, Principal, bucket_arn, object_arn, parse

BUCKET = "pics"
OWNER = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
ANON = Principal()
ALICE = Principal(OTHER, "u1", "alice")


class Ctx:
    def __init__(self, **values: str) -> None:
        self.values = {k.replace("_", ":", 1).replace("_", "-"): v for k, v in values.items()}

    def get(self, key: str) -> list[str] | None:
        v = self.values.get(key)
        return None if v is None else [v]


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def st(effect: str = "Allow", principal: Any = "*", action: Any = "s3:GetObject",
       resource: Any = f"arn:aws:s3:::{BUCKET}/*", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": resource,
            **extra}


def test_public_read_allows_anyone_and_says_nothing_of_the_rest() -> None:
    p = parse(doc(st()), BUCKET)
    assert p.public
    assert p.evaluate(ANON, "s3:GetObject", object_arn(BUCKET, "a/b.jpg"), Ctx()) == ALLOW
    assert p.evaluate(ANON, "s3:PutObject", object_arn(BUCKET, "a"), Ctx()) is None
    assert p.evaluate(ANON, "s3:GetObject", bucket_arn(BUCKET), Ctx()) is None


def test_explicit_deny_wins_and_is_scoped_by_condition() -> None:
    p = parse(doc(st(principal={"AWS": "*"}, action="s3:*", resource=[
        f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]),
        st("Deny", action=["s3:Get*", "s3:ListBucket"], resource=[
            f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
           Condition={"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}})), BUCKET)
    key = object_arn(BUCKET, "k")
    assert p.evaluate(ALICE, "s3:GetObject", key, Ctx(aws_sourceip="10.1.2.3")) == ALLOW
    assert p.evaluate(ALICE, "s3:GetObject", key, Ctx(aws_sourceip="127.0.0.1")) == DENY
    assert p.evaluate(ALICE, "s3:PutObject", key, Ctx(aws_sourceip="127.0.0.1")) == ALLOW
    assert p.evaluate(ALICE, "s3:GetObject", key, Ctx(aws_sourceip="::1")) == ALLOW
    # the source address pins nothing (NotIpAddress): still public
    assert p.public


def test_principals_by_project_user_arn_and_not_principal() -> None:
    deny = {"Effect": "Deny", "NotPrincipal": {"AWS": f"arn:aws:iam::{OWNER}:root"},
            "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    p = parse(doc(st(principal={"AWS": [OTHER]}, action="s3:ListBucket",
                     resource=f"arn:aws:s3:::{BUCKET}"),
                  st(principal={"AWS": f"arn:aws:iam::{OWNER}:user/bob"}), deny), BUCKET)
    assert not p.public
    assert p.evaluate(ALICE, "s3:ListBucket", bucket_arn(BUCKET), Ctx()) == ALLOW
    assert p.evaluate(ANON, "s3:ListBucket", bucket_arn(BUCKET), Ctx()) is None
    bob = Principal(OWNER, "u2", "bob")
    assert p.evaluate(bob, "s3:GetObject", object_arn(BUCKET, "k"), Ctx()) == ALLOW
    assert p.evaluate(ALICE, "s3:GetObject", object_arn(BUCKET, "k"), Ctx()) is None
    assert p.evaluate(ALICE, "s3:DeleteObject", object_arn(BUCKET, "k"), Ctx()) == DENY
    assert p.evaluate(bob, "s3:DeleteObject", object_arn(BUCKET, "k"), Ctx()) is None


@pytest.mark.parametrize(("condition", "ctx", "want"), [
    ({"StringLike": {"s3:prefix": ["home/", "home/*"]}}, Ctx(s3_prefix="home/x"), ALLOW),
    ({"StringLike": {"s3:prefix": ["home/", "home/*"]}}, Ctx(s3_prefix="etc/"), None),
    ({"StringLike": {"s3:prefix": "home/*"}}, Ctx(), None),  # absent: false
    ({"StringNotEquals": {"s3:delimiter": "/"}}, Ctx(), ALLOW),  # absent, negated: true
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, Ctx(s3_max_keys="5"), ALLOW),
    ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, Ctx(s3_max_keys="50"), None),
    ({"Bool": {"aws:SecureTransport": "false"}}, Ctx(aws_securetransport="false"), ALLOW),
    ({"Null": {"aws:Referer": "true"}}, Ctx(), ALLOW),
    ({"Null": {"aws:Referer": "true"}}, Ctx(aws_referer="http://x/"), None),
    ({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     Ctx(aws_currenttime="2026-01-01T00:00:00Z"), ALLOW),
    ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
     Ctx(aws_currenttime="2026-01-01T00:00:00Z"), None),
    ({"StringEqualsIfExists": {"aws:Referer": "http://ok/"}}, Ctx(), ALLOW),
])
def test_conditions(condition: dict[str, Any], ctx: Ctx, want: str | None) -> None:
    p = parse(doc(st(action="s3:ListBucket", resource=f"arn:aws:s3:::{BUCKET}",
                     Condition=condition)), BUCKET)
    assert p.evaluate(ALICE, "s3:ListBucket", bucket_arn(BUCKET), ctx) == want


def test_existing_object_tags_are_asked_for() -> None:
    p = parse(doc(st(Condition={"StringEquals": {"s3:ExistingObjectTag/class": "open"}})),
              BUCKET)
    assert p.needs_object_tags()
    key = object_arn(BUCKET, "k")
    assert p.evaluate(ANON, "s3:GetObject", key,
                      Ctx(**{"s3_existingobjecttag/class": "open"})) == ALLOW
    assert p.evaluate(ANON, "s3:GetObject", key,
                      Ctx(**{"s3_existingobjecttag/class": "closed"})) is None
    assert p.evaluate(ANON, "s3:GetObject", key, Ctx()) is None


@pytest.mark.parametrize("text", [
    "not json",
    "[]",
    '{"Statement": []}',
    doc(st(action="s3:FlyAway")),
    doc(st(action="iam:GetUser")),
    doc(st(resource="arn:aws:s3:::another-bucket/*")),
    doc(st(effect="Maybe")),
    doc(st(Condition={"StringSorta": {"s3:prefix": "x"}})),
    doc(st(Condition={"StringEquals": {"s3:no-such-key": "x"}})),
    doc(st(Condition={"IpAddress": {"aws:SourceIp": "300.1.1.1/8"}})),
    doc(st(principal={"Federated": "x"})),
    doc(st(action="s3:ListBucket")),  # a bucket action on objects only
    doc(st(Sid="a"), st(Sid="a")),
    json.dumps({"Version": "2099-01-01", "Statement": [st()]}),
    doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}),
])
def test_malformed_policies(text: str) -> None:
    with pytest.raises(S3Error) as exc:
        parse(text, BUCKET)
    assert exc.value.code == "MalformedPolicy" and exc.value.status == 400
