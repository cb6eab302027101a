"""S3 bucket policies: the IAM policy language as S3 reads it.

A policy is JSON: ``Version`` (``2012-10-17`` or ``2008-10-17``), an optional
``Id``, and ``Statement`` (one object or a list), each with an optional
``Sid``, ``Effect`` (``Allow``/``Deny``), ``Principal`` or ``NotPrincipal``,
``Action`` or ``NotAction``, ``Resource`` or ``NotResource`` and an optional
``Condition`` (``policy_conditions``). What does not parse, or names an action,
resource, principal, operator or key S3 does not have, is ``MalformedPolicy``.

The ARNs of this cloud (an S3 "account" is a project; its canonical user id is
the project id, as in the ACLs):

- principals: ``"*"`` or ``{"AWS": "*"}`` (everyone, anonymous callers too);
  ``{"AWS": "<project id>"}`` or ``"arn:aws:iam::<project id>:root"`` (every
  user of that project); ``"arn:aws:iam::<project id>:user/<user name or id>"``
  (one user, acting in that project); ``{"CanonicalUser": "<project id>"}``.
- resources: ``arn:aws:s3:::<bucket>`` (the bucket) and
  ``arn:aws:s3:::<bucket>/<key>`` (objects), ``*`` and ``?`` wildcards allowed;
  every resource must name the policy's own bucket.

A policy is parsed once per text (:func:`parse`, cached); :meth:`Policy.evaluate`
then decides a request in a few comparisons: ``Deny`` when a statement denies
it, else ``Allow`` when one allows it, else None (the ACLs decide).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from proxy.s3.errors import S3Error
from proxy.s3.policy_conditions import (
    Condition,
    Context,
    compile_block,
    malformed,
    substitute,
    wildcard,
)

MAX_SIZE = 20 * 1024
VERSIONS = ("2012-10-17", "2008-10-17")
ALLOW, DENY = "Allow", "Deny"
S3_ARN = "arn:aws:s3:::"
_ID = re.compile(r"[A-Za-z0-9_.@+=,-]{1,128}")
_IAM_ARN = re.compile(r"arn:aws:iam::([A-Za-z0-9_-]{1,64}):(root|user/(.+))")
STATEMENT_KEYS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action",
                            "NotAction", "Resource", "NotResource", "Condition"})

# The S3 actions, each with the kind of resource it acts on.
_BUCKET_ACTIONS = (
    "CreateBucket", "DeleteBucket", "ListBucket", "ListBucketVersions",
    "ListBucketMultipartUploads", "GetBucketLocation", "GetBucketAcl", "PutBucketAcl",
    "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
    "GetBucketTagging", "PutBucketTagging", "GetBucketCORS", "PutBucketCORS",
    "GetBucketVersioning", "PutBucketVersioning", "GetBucketObjectLockConfiguration",
    "PutBucketObjectLockConfiguration", "GetBucketPublicAccessBlock",
    "PutBucketPublicAccessBlock", "GetBucketOwnershipControls", "PutBucketOwnershipControls",
    "GetLifecycleConfiguration", "PutLifecycleConfiguration", "GetBucketWebsite",
    "PutBucketWebsite", "DeleteBucketWebsite", "GetBucketLogging", "PutBucketLogging",
    "GetBucketNotification", "PutBucketNotification", "GetReplicationConfiguration",
    "PutReplicationConfiguration", "GetEncryptionConfiguration",
    "PutEncryptionConfiguration", "GetBucketRequestPayment", "PutBucketRequestPayment",
    "GetAccelerateConfiguration", "PutAccelerateConfiguration", "GetAnalyticsConfiguration",
    "PutAnalyticsConfiguration", "GetInventoryConfiguration", "PutInventoryConfiguration",
    "GetMetricsConfiguration", "PutMetricsConfiguration",
    "GetIntelligentTieringConfiguration", "PutIntelligentTieringConfiguration",
)
_OBJECT_ACTIONS = (
    "GetObject", "GetObjectVersion", "PutObject", "DeleteObject", "DeleteObjectVersion",
    "GetObjectAcl", "GetObjectVersionAcl", "PutObjectAcl", "PutObjectVersionAcl",
    "GetObjectTagging", "GetObjectVersionTagging", "PutObjectTagging",
    "PutObjectVersionTagging", "DeleteObjectTagging", "DeleteObjectVersionTagging",
    "AbortMultipartUpload", "ListMultipartUploadParts", "GetObjectRetention",
    "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold",
    "BypassGovernanceRetention", "GetObjectAttributes", "GetObjectVersionAttributes",
    "RestoreObject", "GetObjectTorrent", "GetObjectVersionTorrent", "ReplicateObject",
    "ReplicateDelete", "ReplicateTags", "ObjectOwnerOverrideToBucketOwner",
    "GetObjectVersionForReplication",
)
_SERVICE_ACTIONS = ("ListAllMyBuckets",)
ACTIONS: dict[str, tuple[str, str]] = {  # lower-case name -> (name, resource kind)
    **{f"s3:{a}".lower(): (f"s3:{a}", "bucket") for a in _BUCKET_ACTIONS},
    **{f"s3:{a}".lower(): (f"s3:{a}", "object") for a in _OBJECT_ACTIONS},
    **{f"s3:{a}".lower(): (f"s3:{a}", "service") for a in _SERVICE_ACTIONS},
}


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as policies name them (``project`` None: anonymous)."""

    project: str | None = None
    user_id: str = ""
    user_name: str = ""


ANONYMOUS = Principal()


@dataclass(frozen=True)
class Principals:
    """A ``Principal`` element: everyone, projects, or users of a project."""

    everyone: bool = False
    projects: frozenset[str] = frozenset()
    users: frozenset[tuple[str, str]] = frozenset()  # (project, user name or id)

    def match(self, who: Principal) -> bool:
        if self.everyone:
            return True
        if who.project is None:
            return False
        return who.project in self.projects or (who.project, who.user_name) in self.users \
            or (who.project, who.user_id) in self.users


def _listed(raw: Any, what: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(i, str) for i in items):
        raise malformed(f"Invalid {what}: expecting a string or a list of strings")
    return items


def _principals(raw: Any) -> Principals:
    if raw == "*":
        return Principals(everyone=True)
    if not isinstance(raw, dict) or not raw:
        raise malformed("Invalid principal in policy")
    projects: set[str] = set()
    users: set[tuple[str, str]] = set()
    everyone = False
    for kind, value in raw.items():
        if kind not in ("AWS", "CanonicalUser"):
            raise malformed("Invalid principal in policy")
        for item in _listed(value, "principal"):
            if item == "*" and kind == "AWS":
                everyone = True
                continue
            m = _IAM_ARN.fullmatch(item) if kind == "AWS" else None
            if m is not None and m.group(3) is None:
                projects.add(m.group(1))
            elif m is not None and _ID.fullmatch(m.group(3)):
                users.add((m.group(1), m.group(3)))
            elif m is None and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", item):
                projects.add(item)
            else:
                raise malformed("Invalid principal in policy")
    return Principals(everyone, frozenset(projects), frozenset(users))


@dataclass(frozen=True)
class Names:
    """Patterns with ``*``/``?`` wildcards: actions (case-insensitive) or resources."""

    patterns: tuple[str, ...]
    ignore_case: bool = False
    _exact: frozenset[str] = field(default=frozenset(), repr=False)
    _wild: tuple[re.Pattern[str], ...] = field(default=(), repr=False)
    _varied: tuple[str, ...] = field(default=(), repr=False)  # with policy variables

    @classmethod
    def of(cls, patterns: list[str], ignore_case: bool) -> Names:
        fold = str.lower if ignore_case else str
        exact = frozenset(fold(p) for p in patterns if not ({"*", "?"} & set(p)) and "${" not in p)
        wild = tuple(wildcard(p, ignore_case) for p in patterns
                     if ({"*", "?"} & set(p)) and "${" not in p)
        varied = tuple(p for p in patterns if "${" in p)
        return cls(tuple(patterns), ignore_case, exact, wild, varied)

    def match(self, value: str, ctx: Context | None = None) -> bool:
        if (value.lower() if self.ignore_case else value) in self._exact:
            return True
        if any(w.fullmatch(value) for w in self._wild):
            return True
        return ctx is not None and any(
            wildcard(substitute(p, ctx), self.ignore_case).fullmatch(value)
            for p in self._varied)


@dataclass(frozen=True)
class Statement:
    sid: str
    allow: bool
    principals: Principals
    not_principal: bool
    actions: Names
    not_action: bool
    resources: Names
    not_resource: bool
    conditions: tuple[Condition, ...]
    _actions_seen: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def acts_on(self, action: str) -> bool:
        """Does the statement cover ``action``? (Remembered: a policy sees few actions.)"""
        hit = self._actions_seen.get(action)
        if hit is None:
            hit = self.actions.match(action) != self.not_action
            if len(self._actions_seen) < 256:
                self._actions_seen[action] = hit
        return hit

    def applies(self, who: Principal, action: str, resource: str, ctx: Context) -> bool:
        return (self.acts_on(action)
                and self.principals.match(who) != self.not_principal
                and self.resources.match(resource, ctx) != self.not_resource
                and all(c.holds(ctx) for c in self.conditions))

    @property
    def public(self) -> bool:
        """An Allow that anyone may be given: to every principal, with no condition that
        pins the caller to fixed values (an address, an account, a source ARN)."""
        return self.allow and (self.principals.everyone or self.not_principal) and \
            not any(c.restricts for c in self.conditions)


@dataclass(frozen=True)
class Policy:
    text: str
    statements: tuple[Statement, ...]
    # condition keys some statement reads (``s3:existingobjecttag/...`` need a HEAD)
    keys: frozenset[str] = frozenset()

    def evaluate(self, who: Principal, action: str, resource: str,
                 ctx: Context) -> str | None:
        """``Deny``, ``Allow`` or None (the policy says nothing) for ``who`` asking
        ``action`` on ``resource`` (an ARN): a denial wins over any allow."""
        result = None
        for st in self.statements:
            if st.applies(who, action, resource, ctx):
                if not st.allow:
                    return DENY
                result = ALLOW
        return result

    @property
    def public(self) -> bool:
        return any(st.public for st in self.statements)

    def needs_object_tags(self) -> bool:
        return any(k.startswith("s3:existingobjecttag/") for k in self.keys)


def bucket_arn(bucket: str) -> str:
    return S3_ARN + bucket


def object_arn(bucket: str, key: str) -> str:
    return f"{S3_ARN}{bucket}/{key}"


def _resources(raw: Any, bucket: str) -> tuple[Names, set[str]]:
    """The resources and the kinds they cover (``bucket``, ``object``); MalformedPolicy
    for one that is not this bucket or its objects."""
    items = _listed(raw, "resource")
    kinds: set[str] = set()
    for item in items:
        if item == "*":
            kinds |= {"bucket", "object"}
            continue
        if not item.startswith(S3_ARN):
            raise malformed("Policy has invalid resource")
        name, slash, _ = item[len(S3_ARN):].partition("/")
        if not name or not wildcard(name).fullmatch(bucket):
            raise malformed("Policy has invalid resource")
        kinds.add("object" if slash else "bucket")
        if not slash and name.endswith("*"):
            kinds.add("object")
    return Names.of(items, ignore_case=False), kinds


def _actions(raw: Any) -> tuple[Names, set[str]]:
    """The actions and the kinds of resource they act on; MalformedPolicy for an action
    S3 does not have (a pattern must match one)."""
    items = _listed(raw, "action")
    kinds: set[str] = set()
    for item in items:
        if item == "*":
            kinds |= {"bucket", "object", "service"}
            continue
        low = item.lower()
        if not low.startswith("s3:"):
            raise malformed("Policy has invalid action")
        if "*" in low or "?" in low:
            pattern = wildcard(low)
            found = {kind for name, (_, kind) in ACTIONS.items() if pattern.fullmatch(name)}
        else:
            found = {ACTIONS[low][1]} if low in ACTIONS else set()
        if not found:
            raise malformed("Policy has invalid action")
        kinds |= found
    return Names.of(items, ignore_case=True), kinds


def _statement(raw: Any, bucket: str) -> Statement:
    if not isinstance(raw, dict):
        raise malformed("Statement must be an object")
    unknown = sorted(set(raw) - STATEMENT_KEYS)
    if unknown:
        raise malformed(f"Unknown field {unknown[0]}")
    effect = raw.get("Effect")
    if effect is None:
        raise malformed("Missing required field Effect")
    if effect not in (ALLOW, DENY):
        raise malformed(f"Invalid effect: {effect}")
    for one, other, name in (("Principal", "NotPrincipal", "Principal"),
                             ("Action", "NotAction", "Action"),
                             ("Resource", "NotResource", "Resource")):
        if one in raw and other in raw:
            raise malformed(f"Statement cannot have both {one} and {other}")
        if one not in raw and other not in raw:
            raise malformed(f"Missing required field {name}")
    not_principal = "NotPrincipal" in raw
    principals = _principals(raw["NotPrincipal" if not_principal else "Principal"])
    not_action = "NotAction" in raw
    actions, action_kinds = _actions(raw["NotAction" if not_action else "Action"])
    not_resource = "NotResource" in raw
    resources, resource_kinds = _resources(raw["NotResource" if not_resource else "Resource"],
                                           bucket)
    if not not_action and not not_resource and not action_kinds & resource_kinds:
        raise malformed("Action does not apply to any resource(s) in statement")
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise malformed("Statement IDs (SID) must be strings")
    conditions = compile_block(raw["Condition"]) if "Condition" in raw else ()
    return Statement(sid, effect == ALLOW, principals, not_principal, actions, not_action,
                     resources, not_resource, conditions)


def parse(text: str, bucket: str) -> Policy:
    """``text`` as the policy of ``bucket``; MalformedPolicy when it is not one."""
    return _parse(text, bucket)


@functools.lru_cache(maxsize=1024)
def _parse(text: str, bucket: str) -> Policy:
    if len(text.encode()) > MAX_SIZE:
        raise malformed("Policies must be less than 20 KB")
    if not text.lstrip().startswith("{"):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(text)
    except ValueError:
        raise malformed("This policy contains invalid Json") from None
    if not isinstance(doc, dict):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    unknown = sorted(set(doc) - {"Version", "Id", "Statement"})
    if unknown:
        raise malformed(f"Unknown field {unknown[0]}")
    if doc.get("Version", VERSIONS[1]) not in VERSIONS:
        raise malformed("The policy must contain a valid version string")
    raw = doc.get("Statement")
    if raw is None or raw == []:
        raise malformed("Missing required field Statement")
    statements = tuple(_statement(s, bucket) for s in (raw if isinstance(raw, list) else [raw]))
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise malformed("Statement IDs (SID) in a single policy must be unique")
    keys = frozenset(c.key for s in statements for c in s.conditions)
    return Policy(text, statements, keys)


def load(text: str | None, bucket: str) -> Policy | None:
    """A stored policy (None: none, or one that no longer parses)."""
    if not text:
        return None
    try:
        return _parse(text, bucket)
    except S3Error:  # a stored policy that no longer parses grants nothing
        return None
