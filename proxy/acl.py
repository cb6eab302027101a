"""Swift ACLs: container ACLs (``X-Container-Read``/``-Write``) and account ACLs
(``X-Account-Access-Control``), as pure logic with no I/O.

Container ACLs use Swift's "V1" syntax, a comma-separated list of items::

    .r:*,.rlistings,<project-id>:*

Cleaning follows Swift's rules exactly: empty items vanish, whitespace around
an item (and around a referrer designation's parts) is dropped, ``.ref:``,
``.referer:`` and ``.referrer:`` become ``.r:``, a leading ``*`` of a domain
(``*.example.com``) is dropped, referrers are refused in a write ACL, and any
other ``.<word>:`` designator is refused. Items without a colon (``.rlistings``,
role names, even ``.whatever``) and items whose part before the first colon
does not start with a dot (``project:user``) are kept verbatim.

Decisions follow Swift's keystoneauth middleware for a caller who does not own
the account (owners, operators and reseller admins are the caller's business):

1. ``<project>:<user>`` grants, either side an id, a name or ``*``, allow the
   request, object or container alike. Names count only when every party is
   in the default domain (see :func:`names_allowed`).
2. A referrer grant (``.r:``) allows object requests; container requests
   (listings, HEAD) only with ``.rlistings`` as well. A referrer grant that
   matches a container request without ``.rlistings`` denies it outright, even
   to a caller a role grant would otherwise admit, as Swift does.
3. A role-name item allows a caller holding that role (case-insensitively)
   with a token scoped to the project that owns the account.

Anonymous callers only ever get referrer grants.

Account ACLs use Swift's "V2" syntax: a JSON object with the keys ``admin``,
``read-write`` and ``read-only``, each a list of strings, validated with
TempAuth's rules and messages, and echoed back as compact, key-sorted, ASCII
JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlparse

AccessLevel = Literal["admin", "read-write", "read-only"]

#: Account ACL keys, highest access first.
ACCESS_LEVELS: tuple[AccessLevel, ...] = ("admin", "read-write", "read-only")

#: The spellings Swift accepts for a referrer designator; all are stored as ``.r``.
REFERRER_DESIGNATORS = frozenset({".r", ".ref", ".referer", ".referrer"})

LISTINGS = ".rlistings"

#: The domain legacy (pre-domain) Keystone projects and users live in.
DEFAULT_DOMAIN_ID = "default"


class AclError(ValueError):
    """A malformed ACL; ``message`` is the text Swift puts in its 400 body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Identity:
    """The authenticated caller, as a Keystone token describes them.

    Domain ids are optional: ``None`` means "not known to be in a domain"
    (a v2-style token), which Swift treats like the default domain.
    """

    project_id: str | None
    project_name: str | None
    user_id: str | None
    user_name: str | None
    roles: Sequence[str] = ()
    user_domain_id: str | None = None
    project_domain_id: str | None = None


# --------------------------------------------------------------------------
# Container ACLs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerAcl:
    """A cleaned container ACL.

    ``items`` are the cleaned items in order (what ``str(acl)`` joins back
    into the stored header value); the other views are derived from them.
    """

    items: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ",".join(self.items)

    @property
    def referrers(self) -> list[str]:
        """Referrer designations without their ``.r:``, in order (``-`` marks a denial)."""
        return [item[3:] for item in self.items if item.startswith(".r:")]

    @property
    def groups(self) -> list[str]:
        """Every other item, percent-decoded as Swift's parser does (``.rlistings`` included)."""
        return [unquote(item) for item in self.items if not item.startswith(".r:")]

    @property
    def listings(self) -> bool:
        """Does the ACL carry ``.rlistings``?"""
        return LISTINGS in self.groups


def _clean_item(raw: str, write: bool) -> str:
    """One non-empty, stripped item, cleaned; AclError when it is malformed."""
    if ":" not in raw:
        return raw
    first, second = (part.strip() for part in raw.split(":", 1))
    if not first.startswith("."):
        return raw  # a grant such as project:user, kept exactly as given
    if first not in REFERRER_DESIGNATORS:
        raise AclError(f"Unknown designator {first!r} in ACL: {raw!r}")
    if write:
        raise AclError(f"Referrers not allowed in write ACL: {raw!r}")
    negate = second.startswith("-")
    if negate:
        second = second[1:].strip()
    if second != "*" and second.startswith("*"):
        second = second[1:].strip()  # *.example.com means .example.com
    if not second or second == ".":
        raise AclError(
            f"No host/domain value after referrer designation in ACL: {raw!r}")
    return ".r:" + ("-" if negate else "") + second


def parse_container_acl(value: str, *, write: bool) -> ContainerAcl:
    """Parse and clean an ``X-Container-Read`` (``write=False``) or
    ``X-Container-Write`` (``write=True``) value; AclError if malformed."""
    items = []
    for raw in value.split(","):
        raw = raw.strip()
        if raw:
            items.append(_clean_item(raw, write))
    return ContainerAcl(tuple(items))


def clean_container_acl(value: str, write: bool) -> str:
    """The value Swift stores for this ACL header (``.referrer : *`` → ``.r:*``)."""
    return str(parse_container_acl(value, write=write))


def _as_container_acl(acl: ContainerAcl | str | None, write: bool) -> ContainerAcl:
    if acl is None:
        return ContainerAcl()
    if isinstance(acl, ContainerAcl):
        return acl
    return parse_container_acl(acl, write=write)


def _referrer_host(referrer: str | None) -> str:
    try:
        host = urlparse(referrer or "").hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        host = None
    return host or "unknown"


def referrer_allowed(referrer: str | None, referrers: Sequence[str]) -> bool:
    """Does a ``Referer`` header pass these designations (as :attr:`ContainerAcl.referrers`)?

    Rules apply in order and the last that matches wins: ``*`` matches any
    referrer (even none), ``host`` the host exactly, ``.domain`` any host
    ending with it, and a leading ``-`` turns a rule into a denial. The host
    is the URL's (lower-cased) hostname, ``unknown`` when there is none.
    """
    allow = False
    if not referrers:
        return allow
    host = _referrer_host(referrer)
    for rule in referrers:
        if rule.startswith("-"):
            rule = rule[1:]
            if rule == host or (rule.startswith(".") and host.endswith(rule)):
                allow = False
        elif rule == "*" or rule == host or (rule.startswith(".") and host.endswith(rule)):
            allow = True
    return allow


def names_allowed(identity: Identity, *, account_project_id: str | None,
                  account_domain_id: str | None = None,
                  default_domain_id: str = DEFAULT_DOMAIN_ID,
                  allow_names_in_acls: bool = True) -> bool:
    """May project/user *names* in an ACL match this caller (keystoneauth's rule)?

    Only when names are enabled, the caller's user and project are in the
    default domain (or no domain), and the account is the caller's own project
    or belongs to the default domain (``account_domain_id`` ``None``: a legacy
    account with no recorded domain, which counts as default).
    """
    if not allow_names_in_acls:
        return False
    if identity.user_domain_id and identity.user_domain_id != default_domain_id:
        return False
    if identity.project_domain_id and identity.project_domain_id != default_domain_id:
        return False
    if account_project_id is not None and identity.project_id == account_project_id:
        return True
    return account_domain_id in (None, default_domain_id)


def _grant_candidates(identity: Identity, allow_names: bool) -> set[str]:
    """Every ``project:user`` string that names this caller."""
    projects = [identity.project_id, "*"]
    users = [identity.user_id, "*"]
    if allow_names:
        projects.append(identity.project_name)
        users.append(identity.user_name)
    return {f"{p}:{u}" for p in projects if p is not None for u in users if u is not None}


def _cross_project_match(groups: Sequence[str], identity: Identity, allow_names: bool) -> bool:
    if not groups:
        return False
    return not _grant_candidates(identity, allow_names).isdisjoint(groups)


def _role_match(groups: Sequence[str], identity: Identity) -> bool:
    wanted = {g.lower() for g in groups}
    return any(role.lower() in wanted for role in identity.roles)


def _container_acl_allows(acl: ContainerAcl, identity: Identity | None, referrer: str | None,
                          container_request: bool, account_project_id: str | None,
                          allow_names: bool | None, account_domain_id: str | None,
                          default_domain_id: str, allow_names_in_acls: bool) -> bool:
    groups = acl.groups
    referrer_ok = referrer_allowed(referrer, acl.referrers)
    if identity is None:
        return referrer_ok and (not container_request or LISTINGS in groups)
    if allow_names is None:
        allow_names = names_allowed(
            identity, account_project_id=account_project_id,
            account_domain_id=account_domain_id, default_domain_id=default_domain_id,
            allow_names_in_acls=allow_names_in_acls)
    if _cross_project_match(groups, identity, allow_names):
        return True
    if referrer_ok:
        # A matching referrer decides: yes for objects or with .rlistings, else a
        # firm no that even a role grant does not override (keystoneauth's order).
        return not container_request or LISTINGS in groups
    if account_project_id is None or identity.project_id != account_project_id:
        return False  # role grants apply only within the account's own project
    return _role_match(groups, identity)


def container_read_allows(acl: ContainerAcl | str | None, identity: Identity | None,
                          referrer: str | None, listing: bool, *,
                          account_project_id: str | None = None,
                          allow_names: bool | None = None,
                          account_domain_id: str | None = None,
                          default_domain_id: str = DEFAULT_DOMAIN_ID,
                          allow_names_in_acls: bool = True) -> bool:
    """Does a container's read ACL let this non-owner caller read?

    ``listing`` is True for a request on the container itself (GET listing or
    HEAD), False for an object GET/HEAD. ``identity`` None is an anonymous
    caller. ``account_project_id`` is the project that owns the account: role
    grants apply only to callers scoped to it, so they never apply when it is
    not given. ``allow_names`` forces whether name grants count; by default
    :func:`names_allowed` decides from the domain arguments. A string ACL is
    parsed as a read ACL (AclError if malformed).
    """
    return _container_acl_allows(
        _as_container_acl(acl, write=False), identity, referrer, listing,
        account_project_id, allow_names, account_domain_id, default_domain_id,
        allow_names_in_acls)


def container_write_allows(acl: ContainerAcl | str | None, identity: Identity | None, *,
                           account_project_id: str | None = None,
                           allow_names: bool | None = None,
                           account_domain_id: str | None = None,
                           default_domain_id: str = DEFAULT_DOMAIN_ID,
                           allow_names_in_acls: bool = True) -> bool:
    """Does a container's write ACL let this non-owner caller PUT/POST/DELETE an object?

    Arguments as for :func:`container_read_allows`. A cleaned write ACL holds
    no referrers, so anonymous callers are never allowed.
    """
    return _container_acl_allows(
        _as_container_acl(acl, write=True), identity, None, False,
        account_project_id, allow_names, account_domain_id, default_domain_id,
        allow_names_in_acls)


# --------------------------------------------------------------------------
# Account ACLs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountAcl:
    """A valid ``X-Account-Access-Control`` value.

    Each level is the list of grantees, or None when the key was absent (an
    absent key and an empty list are echoed back differently).
    """

    admin: tuple[str, ...] | None = None
    read_write: tuple[str, ...] | None = None
    read_only: tuple[str, ...] | None = None

    def members(self, level: AccessLevel) -> tuple[str, ...]:
        """The grantees at exactly this level (empty when the key is absent)."""
        value = {"admin": self.admin, "read-write": self.read_write,
                 "read-only": self.read_only}[level]
        return value or ()

    @property
    def is_empty(self) -> bool:
        """No keys at all: Swift then stores nothing and shows no header."""
        return self.admin is None and self.read_write is None and self.read_only is None

    @property
    def grants_nothing(self) -> bool:
        """No grantee at any level: Swift then treats the account as having no ACL."""
        return not (self.admin or self.read_write or self.read_only)

    def as_dict(self) -> dict[str, list[str]]:
        """The ACL as Swift's dict, with only the keys that were given."""
        out: dict[str, list[str]] = {}
        for level in ACCESS_LEVELS:
            value = {"admin": self.admin, "read-write": self.read_write,
                     "read-only": self.read_only}[level]
            if value is not None:
                out[level] = list(value)
        return out


def parse_account_acl(value: str) -> AccountAcl:
    """Validate an ``X-Account-Access-Control`` value as TempAuth does.

    An empty string (or ``{}``) is a valid, empty ACL. Errors carry TempAuth's
    messages: ``Syntax error in input ('...')``, ``Key "x" not recognized``,
    ``Value for key "admin" must be a list``, ``Elements of "admin" list must be
    strings`` (see :func:`account_acl_error_body` for the full 400 body).
    """
    if value == "":
        return AccountAcl()
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if type(data) is not dict:
        raise AclError(f"Syntax error in input ({value!r})")
    for key in data:
        if key not in ACCESS_LEVELS:
            raise AclError(f"Key {json.dumps(key)} not recognized")
    levels: dict[str, tuple[str, ...] | None] = {}
    for level in ACCESS_LEVELS:
        if level not in data:
            levels[level] = None
            continue
        members = data[level]
        if not isinstance(members, list):
            raise AclError(f"Value for key {json.dumps(level)} must be a list")
        if not all(isinstance(member, str) for member in members):
            raise AclError(f"Elements of {json.dumps(level)} list must be strings")
        levels[level] = tuple(members)
    return AccountAcl(admin=levels["admin"], read_write=levels["read-write"],
                      read_only=levels["read-only"])


def account_acl_error_body(error: AclError, value: str) -> str:
    """TempAuth's plain-text 400 body for a rejected ``X-Account-Access-Control``."""
    return f"X-Account-Access-Control invalid: {error.message}\n\nInput: {value}\n"


def format_account_acl(acl: AccountAcl) -> str:
    """The header value Swift returns: compact, key-sorted, ASCII-only JSON.

    An empty ACL formats as ``{}``; Swift omits the header then (check
    :attr:`AccountAcl.is_empty`).
    """
    return json.dumps(acl.as_dict(), ensure_ascii=True, separators=(",", ":"),
                      sort_keys=True)


def _account_grantees(identity: Identity, allow_names: bool) -> set[str]:
    names = _grant_candidates(identity, allow_names)
    if identity.project_id is not None:
        names.add(identity.project_id)
    if allow_names and identity.project_name is not None:
        names.add(identity.project_name)
    return names


def account_access_level(acl: AccountAcl | None, identity: Identity | None, *,
                         allow_names: bool = False) -> AccessLevel | None:
    """The highest level the account ACL grants this caller, or None.

    A grantee names the caller when it is the caller's project id, or a
    ``project:user`` form as in container ACLs (ids or ``*``; names too when
    ``allow_names``, and then a bare project name). Anonymous callers get None.
    """
    if acl is None or identity is None:
        return None
    mine = _account_grantees(identity, allow_names)
    for level in ACCESS_LEVELS:
        if not mine.isdisjoint(acl.members(level)):
            return level
    return None


def account_level_allows(level: AccessLevel | None, method: str, *,
                         container: bool) -> bool:
    """What an account ACL level permits (TempAuth's rules).

    ``container`` is True for a request on a container or object, False for
    one on the account itself. ``admin`` may do anything the owner may (the
    caller should then be treated as the owner); ``read-write`` anything on
    containers and objects but only GET/HEAD on the account; ``read-only``
    GET/HEAD anywhere. OPTIONS is always allowed.
    """
    if level is None:
        return False
    if method == "OPTIONS" or level == "admin":
        return True
    if level == "read-write" and container:
        return True
    return method in ("GET", "HEAD")
