"""proxy.acl: Swift container and account ACLs, checked against Swift's documented behaviour."""

from __future__ import annotations

import pytest

from proxy.acl import (
    AccessLevel,
    AccountAcl,
    AclError,
    ContainerAcl,
    Identity,
    account_access_level,
    account_acl_error_body,
    account_level_allows,
    clean_container_acl,
    container_read_allows,
    container_write_allows,
    format_account_acl,
    names_allowed,
    parse_account_acl,
    parse_container_acl,
    referrer_allowed,
)

ALICE = Identity(project_id="p1", project_name="proj1", user_id="u1", user_name="alice",
                 roles=("member",))
BOB = Identity(project_id="p2", project_name="proj2", user_id="u2", user_name="bob",
               roles=("Reader", "observer"))
FOREIGN = Identity(project_id="p9", project_name="proj9", user_id="u9", user_name="eve",
                   roles=("member",), user_domain_id="other", project_domain_id="other")


# ---------------------------------------------------------------- cleaning


@pytest.mark.parametrize(("raw", "cleaned"), [
    # Swift's own "messy ACL" table
    ("bob, sue", "bob,sue"),
    ("bob , sue", "bob,sue"),
    ("bob,,,sue", "bob,sue"),
    (".referrer : *", ".r:*"),
    (".ref:*.example.com", ".r:.example.com"),
    (".r:*, .rlistings", ".r:*,.rlistings"),
    # more spellings and shapes
    (".referer:www.example.com", ".r:www.example.com"),
    (".r:-thief.example.com", ".r:-thief.example.com"),
    (".r: - thief.example.com", ".r:-thief.example.com"),
    (".r:-*.example.com", ".r:-.example.com"),
    (".r:**", ".r:*"),
    (".r:- *", ".r:-*"),
    (".r : * , .rlistings , 7ec59e87c6584c348b563254aae4c221:*",
     ".r:*,.rlistings,7ec59e87c6584c348b563254aae4c221:*"),
    ("p1:u1, p2:*, *:u3, *:*", "p1:u1,p2:*,*:u3,*:*"),
    ("  ", ""),
    ("", ""),
    (",,,", ""),
    # items without a colon, and grants, are kept verbatim (inner spaces too)
    (".rlistings", ".rlistings"),
    (".r", ".r"),
    (".whatever", ".whatever"),
    ("p1 : u1", "p1 : u1"),
    (":foo", ":foo"),
    ("a:b:c", "a:b:c"),
    ("admin_role", "admin_role"),
])
def test_clean_read_acl(raw: str, cleaned: str) -> None:
    assert clean_container_acl(raw, False) == cleaned
    assert str(parse_container_acl(raw, write=False)) == cleaned


@pytest.mark.parametrize(("raw", "message"), [
    (".r:", "No host/domain value after referrer designation in ACL: '.r:'"),
    (".r:-", "No host/domain value after referrer designation in ACL: '.r:-'"),
    (".r: ", "No host/domain value after referrer designation in ACL: '.r:'"),
    (".r:.", "No host/domain value after referrer designation in ACL: '.r:.'"),
    (".r:*.", "No host/domain value after referrer designation in ACL: '.r:*.'"),
    (".r:-*", None),  # valid: see test_clean_read_acl
    ("bob, .r:", "No host/domain value after referrer designation in ACL: '.r:'"),
    (".x:foo", "Unknown designator '.x' in ACL: '.x:foo'"),
    (".rlistings:yes", "Unknown designator '.rlistings' in ACL: '.rlistings:yes'"),
    (". :foo", "Unknown designator '.' in ACL: '. :foo'"),
    (".R:*", "Unknown designator '.R' in ACL: '.R:*'"),
])
def test_clean_read_acl_errors(raw: str, message: str | None) -> None:
    if message is None:
        parse_container_acl(raw, write=False)
        return
    with pytest.raises(AclError) as info:
        parse_container_acl(raw, write=False)
    assert info.value.message == message
    assert str(info.value) == message


@pytest.mark.parametrize(("raw", "message"), [
    (".r:*", "Referrers not allowed in write ACL: '.r:*'"),
    ("p1:*, .referrer : example.com",
     "Referrers not allowed in write ACL: '.referrer : example.com'"),
    (".r:", "Referrers not allowed in write ACL: '.r:'"),
    (".x:foo", "Unknown designator '.x' in ACL: '.x:foo'"),
])
def test_write_acl_errors(raw: str, message: str) -> None:
    with pytest.raises(AclError) as info:
        clean_container_acl(raw, True)
    assert info.value.message == message


def test_write_acl_keeps_grants_and_rlistings() -> None:
    # Swift's clean_acl only refuses referrers in a write ACL; .rlistings has no
    # colon, so it is kept (and is harmless there).
    assert clean_container_acl(" p1:* , *:u2,.rlistings, role", True) == "p1:*,*:u2,.rlistings,role"


def test_parsed_views() -> None:
    acl = parse_container_acl(".r:*, .r:-bad.com, .rlistings, p1:u1, AUTH_%61, role", write=False)
    assert acl.items == (".r:*", ".r:-bad.com", ".rlistings", "p1:u1", "AUTH_%61", "role")
    assert acl.referrers == ["*", "-bad.com"]
    assert acl.groups == [".rlistings", "p1:u1", "AUTH_a", "role"]  # groups are unquoted
    assert acl.listings is True
    assert parse_container_acl(".r:*", write=False).listings is False
    assert ContainerAcl().items == ()
    assert str(ContainerAcl()) == ""


# ---------------------------------------------------------------- referrers


@pytest.mark.parametrize(("referrer", "rules", "allowed"), [
    ("http://www.example.com/", [], False),
    (None, ["*"], True),
    ("", ["*"], True),
    (None, ["specific.host"], False),
    ("", ["specific.host"], False),
    ("http://www.example.com/index.html", [".example.com"], True),
    ("http://user@www.example.com/index.html", [".example.com"], True),
    ("http://user:pass@www.example.com/index.html", [".example.com"], True),
    ("http://www.example.com:8080/index.html", [".example.com"], True),
    ("http://user@www.example.com:8080/index.html", [".example.com"], True),
    ("http://WWW.Example.COM/", [".example.com"], True),  # the host is lower-cased
    ("http://www.example.com/", [".Example.com"], False),  # rules are not
    ("http://example.com/", [".example.com"], False),  # a domain rule needs a subdomain
    ("http://example.com/", ["example.com"], True),
    ("http://www.example.com/", ["example.com"], False),  # a host rule is exact
    ("http://notexample.com/", [".example.com"], False),
    ("http://www.example.com:8080/", [".example.com", "-thief.example.com"], True),
    ("http://thief.example.com:8080/", [".example.com", "-thief.example.com"], False),
    ("http://thief.example.com/", ["*", "-.example.com"], False),
    ("http://www.example.com/", ["*", "-thief.example.com"], True),
    ("http://www.example.com/", ["*", "-.example.com"], False),
    ("http://www.example.com/", ["-.example.com", "*"], True),  # the last match wins
    ("http://www.example.com/", ["-www.example.com", ".example.com"], True),
    ("http://www.example.com/", [".example.com", "-www.example.com"], False),
    ("http://www.example.com/", ["-*"], False),
    ("http://www.example.com/", ["*", "-*"], True),  # "-*" denies no real host
    ("www.example.com", ["www.example.com"], False),  # no scheme: host "unknown"
    ("www.example.com", ["unknown"], True),
    (None, ["unknown"], True),
    ("http://[::1/", ["*"], True),  # unparsable: still any referrer
    ("http://[::1/", ["unknown"], True),
    ("http://[::1]:80/", ["::1"], True),
    ("http://www.example.com/", ["", "-"], False),
])
def test_referrer_allowed(referrer: str | None, rules: list[str], allowed: bool) -> None:
    assert referrer_allowed(referrer, rules) is allowed


# ---------------------------------------------------------------- read decisions


def read(acl: str, who: Identity | None, *, listing: bool, referrer: str | None = None,
         account: str | None = "p1", allow_names: bool | None = None) -> bool:
    return container_read_allows(acl, who, referrer, listing, account_project_id=account,
                                 allow_names=allow_names)


def test_empty_acl_allows_no_one() -> None:
    for who in (None, ALICE, BOB):
        for listing in (False, True):
            assert read("", who, listing=listing, referrer="http://x.com/") is False
    assert container_read_allows(None, BOB, None, False) is False


def test_public_objects_only() -> None:
    assert read(".r:*", None, listing=False) is True
    assert read(".r:*", None, listing=True) is False
    assert read(".r:*", BOB, listing=False) is True
    assert read(".r:*", BOB, listing=True) is False


def test_public_with_listings() -> None:
    for who in (None, BOB):
        assert read(".r:*,.rlistings", who, listing=False) is True
        assert read(".r:*,.rlistings", who, listing=True) is True


def test_rlistings_alone_grants_nothing() -> None:
    assert read(".rlistings", None, listing=True) is False
    assert read(".rlistings", BOB, listing=True) is False
    assert read(".rlistings", BOB, listing=False) is False


def test_referrer_domains() -> None:
    acl = ".r:.example.com,.r:-thief.example.com,.rlistings"
    assert read(acl, None, listing=False, referrer="http://www.example.com/a") is True
    assert read(acl, None, listing=True, referrer="http://www.example.com/a") is True
    assert read(acl, None, listing=False, referrer="http://thief.example.com/a") is False
    assert read(acl, None, listing=False, referrer="http://example.org/") is False
    assert read(acl, None, listing=False) is False


@pytest.mark.parametrize(("acl", "who", "allowed"), [
    ("p2:u2", BOB, True),
    ("p2:*", BOB, True),
    ("*:u2", BOB, True),
    ("*:*", BOB, True),
    ("proj2:bob", BOB, True),  # names: everyone in the default domain
    ("proj2:*", BOB, True),
    ("*:bob", BOB, True),
    ("p2:bob", BOB, True),
    ("p2:u1", BOB, False),
    ("p1:*", BOB, False),
    ("*:u1", BOB, False),
    ("p2", BOB, False),  # a bare item is a role name, not a project
    ("u2", BOB, False),
    ("P2:U2", BOB, False),  # grants are case-sensitive
    ("p2 : u2", BOB, False),  # and kept with their inner spaces, so never match
    ("p9:u9", FOREIGN, True),  # ids work across domains
    ("proj9:eve", FOREIGN, False),  # names do not
    ("*:*", FOREIGN, True),
    ("*:*", None, False),  # *:* needs a token
])
def test_user_grants(acl: str, who: Identity | None, allowed: bool) -> None:
    for listing in (False, True):  # user grants give listings too
        assert read(acl, who, listing=listing) is allowed, (acl, listing)


def test_quoted_grants_are_unquoted() -> None:
    # Swift percent-decodes stored items before matching them
    assert read("p2%3Au2", BOB, listing=False) is True
    assert read("p2:u%202", Identity("p2", None, "u 2", None), listing=False) is True
    assert read("%6Dember", ALICE, listing=False) is True


def test_names_switch() -> None:
    assert read("proj2:bob", BOB, listing=False, allow_names=False) is False
    assert read("p2:u2", BOB, listing=False, allow_names=False) is True
    assert read("proj9:eve", FOREIGN, listing=False, allow_names=True) is True


def test_names_allowed_rules() -> None:
    assert names_allowed(BOB, account_project_id="p1") is True
    assert names_allowed(BOB, account_project_id="p1", allow_names_in_acls=False) is False
    v3 = Identity("p2", "proj2", "u2", "bob", user_domain_id="default",
                  project_domain_id="default")
    assert names_allowed(v3, account_project_id="p1", account_domain_id="default") is True
    assert names_allowed(v3, account_project_id="p1", account_domain_id="d7") is False
    assert names_allowed(v3, account_project_id="p2", account_domain_id="d7") is True  # own
    assert names_allowed(v3, account_project_id="p1", account_domain_id="d7",
                         default_domain_id="d7") is False  # the caller is not in d7
    user_elsewhere = Identity("p2", "proj2", "u2", "bob", user_domain_id="d7",
                              project_domain_id="default")
    assert names_allowed(user_elsewhere, account_project_id="p2") is False
    project_elsewhere = Identity("p2", "proj2", "u2", "bob", user_domain_id="default",
                                 project_domain_id="d7")
    assert names_allowed(project_elsewhere, account_project_id="p2") is False


def test_names_follow_account_domain_by_default() -> None:
    v3 = Identity("p2", "proj2", "u2", "bob", user_domain_id="default",
                  project_domain_id="default")
    assert container_read_allows("proj2:bob", v3, None, False, account_project_id="p1",
                                 account_domain_id="d7") is False
    assert container_read_allows("proj2:bob", v3, None, False, account_project_id="p1",
                                 account_domain_id="default") is True


def test_role_grants_only_within_the_accounts_project() -> None:
    # ALICE (project p1, role member) on account p1
    assert read("member", ALICE, listing=False) is True
    assert read("member", ALICE, listing=True) is True
    assert read("MEMBER", ALICE, listing=False) is True  # roles are case-insensitive
    assert read("reader", ALICE, listing=False) is False
    # BOB holds "Reader" but is scoped to p2, not the account's project
    assert read("reader", BOB, listing=False) is False
    assert read("reader", BOB, listing=False, account="p2") is True
    # no account project known: role grants never apply
    assert read("member", ALICE, listing=False, account=None) is False
    assert read("member", None, listing=False) is False


def test_matching_referrer_on_a_container_denies_even_a_role() -> None:
    # keystoneauth: a referrer match on a container request without .rlistings is
    # a firm "no" that the later role check never overrides...
    assert read(".r:*,member", ALICE, listing=True) is False
    assert read(".r:*,member", ALICE, listing=False) is True
    assert read(".r:*,.rlistings,member", ALICE, listing=True) is True
    # ...while user grants are checked before referrers
    assert read(".r:*,p1:u1", ALICE, listing=True) is True
    # and a referrer that does not match leaves the role grant in force
    assert read(".r:.example.com,member", ALICE, listing=True) is True


def test_read_acl_accepts_strings_or_parsed() -> None:
    parsed = parse_container_acl(".r:*", write=False)
    assert container_read_allows(parsed, None, None, False) is True
    with pytest.raises(AclError):
        container_read_allows(".bad:x", None, None, False)


# ---------------------------------------------------------------- write decisions


@pytest.mark.parametrize(("acl", "who", "allowed"), [
    ("", BOB, False),
    ("p2:*", BOB, True),
    ("p2:u2", BOB, True),
    ("*:u2", BOB, True),
    ("*:*", BOB, True),
    ("*:*", None, False),
    ("proj2:bob", BOB, True),
    ("p1:*", BOB, False),
    (".rlistings", BOB, False),
    (".rlistings", None, False),
    ("member", ALICE, True),
    ("member", FOREIGN, False),
])
def test_write_allows(acl: str, who: Identity | None, allowed: bool) -> None:
    assert container_write_allows(acl, who, account_project_id="p1") is allowed


def test_write_acl_string_is_parsed_as_write() -> None:
    with pytest.raises(AclError) as info:
        container_write_allows(".r:*", None)
    assert info.value.message == "Referrers not allowed in write ACL: '.r:*'"


# ---------------------------------------------------------------- account ACLs


def test_parse_account_acl() -> None:
    acl = parse_account_acl('{"admin":["p1:u1"],"read-only":["p2", "*:u3"]}')
    assert acl == AccountAcl(admin=("p1:u1",), read_write=None, read_only=("p2", "*:u3"))
    assert acl.members("read-write") == ()
    assert acl.members("read-only") == ("p2", "*:u3")
    assert acl.is_empty is False
    assert acl.grants_nothing is False


@pytest.mark.parametrize("value", ["", "{}"])
def test_empty_account_acl(value: str) -> None:
    acl = parse_account_acl(value)
    assert acl == AccountAcl()
    assert acl.is_empty is True
    assert acl.grants_nothing is True
    assert format_account_acl(acl) == "{}"


def test_account_acl_with_empty_lists() -> None:
    acl = parse_account_acl('{"read-write": []}')
    assert acl.is_empty is False
    assert acl.grants_nothing is True
    assert format_account_acl(acl) == '{"read-write":[]}'


@pytest.mark.parametrize(("value", "message"), [
    ("{", "Syntax error in input ('{')"),
    ("not json", "Syntax error in input ('not json')"),
    ("[]", "Syntax error in input ('[]')"),
    ('"admin"', "Syntax error in input ('\"admin\"')"),
    ("null", "Syntax error in input ('null')"),
    ("  ", "Syntax error in input ('  ')"),
    ("{'admin': []}", "Syntax error in input (\"{'admin': []}\")"),
    ('{"admin":[],"owner":["x"]}', 'Key "owner" not recognized'),
    ('{"Admin":["x"]}', 'Key "Admin" not recognized'),
    ('{"read_only":["x"]}', 'Key "read_only" not recognized'),
    ('{"\u00e9":["x"]}', 'Key "\\u00e9" not recognized'),
    ('{"admin":"p1"}', 'Value for key "admin" must be a list'),
    ('{"read-write":{"p1":1}}', 'Value for key "read-write" must be a list'),
    ('{"read-only":null}', 'Value for key "read-only" must be a list'),
    ('{"admin":["p1",2]}', 'Elements of "admin" list must be strings'),
    ('{"read-only":[["p1"]]}', 'Elements of "read-only" list must be strings'),
    ('{"read-only":[1],"admin":"x"}', 'Value for key "admin" must be a list'),  # admin first
])
def test_account_acl_errors(value: str, message: str) -> None:
    with pytest.raises(AclError) as info:
        parse_account_acl(value)
    assert info.value.message == message


def test_account_acl_error_body() -> None:
    value = '{"owner":["x"]}'
    with pytest.raises(AclError) as info:
        parse_account_acl(value)
    assert account_acl_error_body(info.value, value) == (
        'X-Account-Access-Control invalid: Key "owner" not recognized\n\n'
        'Input: {"owner":["x"]}\n')


def test_format_account_acl_is_compact_sorted_ascii() -> None:
    acl = parse_account_acl(
        '{ "read-write" : ["b"], "read-only": ["c", "d"], "admin": ["caf\u00e9"] }')
    assert format_account_acl(acl) == (
        '{"admin":["caf\\u00e9"],"read-only":["c","d"],"read-write":["b"]}')
    assert parse_account_acl(format_account_acl(acl)) == acl
    assert acl.as_dict() == {"admin": ["caf\u00e9"], "read-write": ["b"],
                             "read-only": ["c", "d"]}


@pytest.mark.parametrize(("value", "who", "level"), [
    ('{"admin":["p2"]}', BOB, "admin"),
    ('{"read-write":["p2:u2"]}', BOB, "read-write"),
    ('{"read-only":["p2:*"]}', BOB, "read-only"),
    ('{"read-only":["*:u2"]}', BOB, "read-only"),
    ('{"read-only":["*:*"]}', BOB, "read-only"),
    ('{"read-only":["p2"],"admin":["p2:u2"]}', BOB, "admin"),  # the highest level wins
    ('{"read-only":["p2"],"read-write":["*:u2"]}', BOB, "read-write"),
    ('{"admin":["p1"],"read-write":["p1:u1"]}', BOB, None),
    ('{"admin":["proj2"]}', BOB, None),  # names only when allowed
    ('{"admin":["proj2:bob"]}', BOB, None),
    ('{"admin":["u2"]}', BOB, None),
    ('{"admin":["*:*"]}', None, None),
    ("{}", BOB, None),
])
def test_account_access_level(value: str, who: Identity | None, level: str | None) -> None:
    assert account_access_level(parse_account_acl(value), who) == level


def test_account_access_level_with_names() -> None:
    acl = parse_account_acl('{"read-write":["proj2"],"admin":["proj2:bob"]}')
    assert account_access_level(acl, BOB, allow_names=True) == "admin"
    acl = parse_account_acl('{"read-write":["proj2"]}')
    assert account_access_level(acl, BOB, allow_names=True) == "read-write"
    assert account_access_level(None, BOB) is None


@pytest.mark.parametrize(("level", "method", "container", "allowed"), [
    ("admin", "DELETE", False, True),
    ("admin", "POST", False, True),
    ("read-write", "PUT", True, True),
    ("read-write", "DELETE", True, True),
    ("read-write", "GET", False, True),
    ("read-write", "HEAD", False, True),
    ("read-write", "POST", False, False),
    ("read-write", "OPTIONS", False, True),
    ("read-only", "GET", True, True),
    ("read-only", "HEAD", False, True),
    ("read-only", "PUT", True, False),
    ("read-only", "POST", False, False),
    (None, "GET", True, False),
])
def test_account_level_allows(level: AccessLevel | None, method: str, container: bool,
                              allowed: bool) -> None:
    assert account_level_allows(level, method, container=container) is allowed
