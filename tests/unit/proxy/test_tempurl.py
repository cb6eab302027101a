"""proxy.tempurl: Swift's TempURL rules, against Swift's published vectors and examples."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

import pytest

from proxy.tempurl import (
    DEFAULT_ALLOWED_DIGESTS,
    INVALID_BODY,
    TempUrlError,
    TempUrlGrant,
    TempUrlParams,
    TempUrlReason,
    allowed_digests_from_conf,
    content_disposition,
    disallowed_header,
    expires_header,
    hmac_body,
    incoming_header_allowed,
    is_temp_url_request,
    make_signature,
    outgoing_header_allowed,
    parse_expires,
    parse_params,
    parse_signature,
    validate,
)

KEY = "mykey"
PATH = "/v1/AUTH_account/container/object"
EXPIRES = 1323479485
NOW = EXPIRES - 60.0
ALL = frozenset({"sha1", "sha256", "sha512"})


def sig(method: str = "GET", path: str = PATH, expires: int = EXPIRES, key: str = KEY,
        digest: str = "sha256", ip_range: str | None = None) -> str:
    return make_signature(key, method, expires, path, digest=digest, ip_range=ip_range)


def query(signature: str, expires: int | str = EXPIRES, **extra: str) -> dict[str, str]:
    return {"temp_url_sig": signature, "temp_url_expires": str(expires), **extra}


def ok(result: TempUrlGrant | TempUrlError) -> TempUrlGrant:
    assert isinstance(result, TempUrlGrant), result
    return result


def refused(result: TempUrlGrant | TempUrlError, reason: TempUrlReason) -> TempUrlError:
    assert isinstance(result, TempUrlError), result
    assert result.reason is reason, result
    assert result.status == 401
    return result


# ---------------------------------------------------------------- signatures


def test_hmac_vectors_from_swift() -> None:
    # swift/test/unit/common/test_digest.py: get_hmac('GET', '/path', 1, 'abc', ...)
    assert make_signature("abc", "GET", 1, "/path", digest="sha1") == (
        "b17f6ff8da0e251737aa9e3ee69a881e3e092e2f")
    assert make_signature("abc", "GET", 1, "/path", digest="sha1", ip_range="127.0.0.1") == (
        "b30dde4d2b8562b8496466c3b46b2b9ac5054461")
    assert make_signature("abc", "GET", 1, "/path", digest="sha256") == (
        "64c5558394f86b042ce1e929b34907abd9d0a57f3e20cd3f93cffd83de0206a7")
    assert make_signature("abc", "GET", 1, "/path", digest="sha512") == (
        "7e95af818aec1b69b53fc2cb6d69456ec64ebda6c17b8fc8b7303b78acc8ca"
        "14fc4aed96c1614a8e9d6ff45a6237711d8be294cda679624825d79aa6959b5229")


def test_sha512_base64_example_from_swift_docs() -> None:
    expected = ("sha512:ZrSijn0GyDhsv1ltIj9hWUTrbAeE45NcKXyBaz7aPbSMvROQ4jtYH4nRAmm"
                "5ErY2X11Yc1Yhy2OMCyN3yueeXg==")
    assert make_signature("mykey", "GET", 1516741234, PATH, digest="sha512",
                          encoding="base64") == expected


def test_hmac_body() -> None:
    assert hmac_body("GET", 5, "/v1/a/c/o") == b"GET\n5\n/v1/a/c/o"
    assert hmac_body("PUT", 5, "/v1/a/c/o", "1.2.3.0/24") == b"ip=1.2.3.0/24\nPUT\n5\n/v1/a/c/o"
    assert hmac_body("GET", 5, "/v1/a/c/o", "") == b"GET\n5\n/v1/a/c/o"
    assert hmac_body("GET", 5, "/v1/a/c/\u00f8") == "GET\n5\n/v1/a/c/\u00f8".encode()


def test_make_signature_forms() -> None:
    mac = hmac.new(b"k", b"GET\n10\n/v1/a/c/o", hashlib.sha256).digest()
    assert make_signature("k", "GET", 10, "/v1/a/c/o") == mac.hex()
    assert make_signature(b"k", "GET", 10, "/v1/a/c/o") == mac.hex()
    assert make_signature("k", "GET", 10, "/v1/a/c/o", encoding="base64") == (
        "sha256:" + base64.b64encode(mac).decode())
    assert make_signature("k", "GET", 10, "/v1/a/c/o", encoding="base64url") == (
        "sha256:" + base64.urlsafe_b64encode(mac).decode().rstrip("="))
    prefixed = hmac.new(b"k", b"GET\n10\nprefix:/v1/a/c/pre", hashlib.sha256).hexdigest()
    assert make_signature("k", "GET", 10, "/v1/a/c", prefix="pre") == prefixed
    assert make_signature("k", "GET", 10, "/v1/a/c/", prefix="pre") == prefixed
    assert make_signature("k", "GET", 10, "prefix:/v1/a/c/pre") == prefixed


@pytest.mark.parametrize(("value", "parsed"), [
    # swift/test/unit/common/test_digest.py: extract_digest_and_algorithm
    ("b17f6ff8da0e251737aa9e3ee69a881e3e092e2f",
     ("sha1", "b17f6ff8da0e251737aa9e3ee69a881e3e092e2f")),
    ("sha1:sw3eTSuFYrhJZGbDtGsrmsUFRGE=", ("sha1", "b30dde4d2b8562b8496466c3b46b2b9ac5054461")),
    ("sha1:sw3eTSuFYrhJZGbDtGsrmsUFRGE", ("sha1", "b30dde4d2b8562b8496466c3b46b2b9ac5054461")),
    ("b963712313cd4236696fb4c4cf11fc56ff4158e0bcbf1d4424df147783fd1045",
     ("sha256", "b963712313cd4236696fb4c4cf11fc56ff4158e0bcbf1d4424df147783fd1045")),
    ("sha256:uWNxIxPNQjZpb7TEzxH8Vv9BWOC8vx1EJN8Ud4P9EEU=",
     ("sha256", "b963712313cd4236696fb4c4cf11fc56ff4158e0bcbf1d4424df147783fd1045")),
    ("sha256:uWNxIxPNQjZpb7TEzxH8Vv9BWOC8vx1EJN8Ud4P9EEU",
     ("sha256", "b963712313cd4236696fb4c4cf11fc56ff4158e0bcbf1d4424df147783fd1045")),
    ("26df3d9d59da574d6f8d359cb2620b1b86737215c38c412dfee0a410acea1ac4"
     "285ad0c37229ca74e715c443979da17d3d77a97d2ac79cc5e395b05bfa4bdd30",
     ("sha512", "26df3d9d59da574d6f8d359cb2620b1b86737215c38c412dfee0a410acea1ac4"
                "285ad0c37229ca74e715c443979da17d3d77a97d2ac79cc5e395b05bfa4bdd30")),
    ("sha512:Jt89nVnaV01vjTWcsmILG4ZzchXDjEEt/uCkEKzqGsQoWtDDcinKdOcVxEOXnaF9PXepfSrHnMXjlbBb"
     "+kvdMA==",
     ("sha512", "26df3d9d59da574d6f8d359cb2620b1b86737215c38c412dfee0a410acea1ac4"
                "285ad0c37229ca74e715c443979da17d3d77a97d2ac79cc5e395b05bfa4bdd30")),
    ("sha512:Jt89nVnaV01vjTWcsmILG4ZzchXDjEEt_uCkEKzqGsQoWtDDcinKdOcVxEOXnaF9PXepfSrHnMXjlbBb"
     "-kvdMA",
     ("sha512", "26df3d9d59da574d6f8d359cb2620b1b86737215c38c412dfee0a410acea1ac4"
                "285ad0c37229ca74e715c443979da17d3d77a97d2ac79cc5e395b05bfa4bdd30")),
    ("md5:1B2M2Y8AsgTpgAmY7PhCfg", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ("B17F6FF8DA0E251737AA9E3EE69A881E3E092E2F",
     ("sha1", "B17F6FF8DA0E251737AA9E3EE69A881E3E092E2F")),  # kept as given
    (":YWJj", ("", "616263")),
    ("x:", ("x", "")),
])
def test_parse_signature(value: str, parsed: tuple[str, str]) -> None:
    assert parse_signature(value) == parsed


@pytest.mark.parametrize("value", [
    "",
    "exactly_forty_chars_but_not_hex_encoded!",
    "d41d8cd98f00b204e9800998ecf8427e",  # md5 length in hex
    "abc",  # odd length
    "0" * 41,
    "\u00e9" * 40,
    "sha256:not*base64",
    "sha256:YW=Jj",  # padding inside
    "sha256:Y",  # one character too many
    "sha256:uWNx+IxP_NQ",  # mixed alphabets: '_' stays invalid
    "sha256:\u00e9\u00e9\u00e9\u00e9",
])
def test_parse_signature_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_signature(value)


# ---------------------------------------------------------------- parameters


def test_parse_params_from_query_string() -> None:
    params = parse_params("temp_url_sig=abc&temp_url_expires=12&filename=My+Test%20File.pdf"
                          "&inline&temp_url_prefix=pre&temp_url_ip_range=1.2.3.0%2F24"
                          "&temp_url_sig=second")
    assert params == TempUrlParams(sig="abc", expires="12", prefix="pre",
                                   ip_range="1.2.3.0/24", filename="My Test File.pdf",
                                   inline=True)
    assert parse_params("") == TempUrlParams()
    assert parse_params("temp_url_prefix=").prefix == ""
    assert parse_params("inline=0").inline is True
    assert parse_params({"temp_url_sig": "s", "inline": ""}) == TempUrlParams(sig="s",
                                                                            inline=True)


@pytest.mark.parametrize(("method", "qs", "answer"), [
    ("GET", "", False),
    ("GET", "format=json", False),
    ("GET", "temp_url_sig=x", True),
    ("GET", "temp_url_expires=1", True),
    ("GET", "temp_url_sig=", True),
    ("OPTIONS", "temp_url_sig=x&temp_url_expires=1", False),
])
def test_is_temp_url_request(method: str, qs: str, answer: bool) -> None:
    assert is_temp_url_request(method, qs) is answer


@pytest.mark.parametrize(("value", "parsed"), [
    ("1323479485", 1323479485),
    (" 1323479485 ", 1323479485),
    ("+12", 12),
    ("0012", 12),
    ("-5", -5),
    ("2011-12-10T01:11:25Z", 1323479485),
    ("1970-01-01T00:00:00Z", 0),
    ("2011-12-10T01:11:25", None),
    ("2011-12-10 01:11:25Z", None),
    ("2011-12-10T01:11:25+00:00", None),
    ("1.5", None),
    ("", None),
    ("soon", None),
])
def test_parse_expires(value: str, parsed: int | None) -> None:
    assert parse_expires(value) == parsed


# ---------------------------------------------------------------- validate


def test_valid_get() -> None:
    grant = ok(validate("GET", PATH, query(sig()), [KEY], None, NOW))
    assert grant == TempUrlGrant(
        method="GET", account="AUTH_account", container="container", object_name="object",
        expires=EXPIRES, digest="sha256", scope="account", prefix=None, ip_range=None,
        filename=None, inline=False, container_root=False)
    assert grant.prefix_based is False
    assert grant.content_disposition() == (
        "attachment; filename=\"object\"; filename*=UTF-8''object")
    assert grant.expires_header() == "Sat, 10 Dec 2011 01:11:25 GMT"


def test_raw_query_string_and_iso_expiry() -> None:
    qs = f"temp_url_sig={sig()}&temp_url_expires=2011-12-10T01:11:25Z&filename=a+b.txt"
    grant = ok(validate("GET", PATH, qs, [KEY], None, NOW))
    assert grant.expires == EXPIRES
    assert grant.filename == "a b.txt"


@pytest.mark.parametrize("digest", ["sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64", "base64url"])
def test_digests_and_encodings(digest: str,
                               encoding: Literal["hex", "base64", "base64url"]) -> None:
    signature = make_signature(KEY, "GET", EXPIRES, PATH, digest=digest, encoding=encoding)
    assert ok(validate("GET", PATH, query(signature), [KEY], None, NOW)).digest == digest


def test_sha1_is_allowed_by_default_and_can_be_turned_off() -> None:
    """As in Swift 2.38: deprecated (``/info`` says so) but still allowed by default."""
    signature = sig(digest="sha1")
    assert ok(validate("GET", PATH, query(signature), [KEY], None, NOW)).digest == "sha1"
    refused(validate("GET", PATH, query(signature), [KEY], None, NOW,
                     frozenset({"sha256", "sha512"})), TempUrlReason.UNSUPPORTED_DIGEST)
    assert ok(validate("GET", PATH, query(signature), [KEY], None, NOW, ALL)).digest == "sha1"
    assert DEFAULT_ALLOWED_DIGESTS == frozenset({"sha1", "sha256", "sha512"})


def test_digest_allow_list_is_honoured() -> None:
    signature = sig(digest="sha512")
    refused(validate("GET", PATH, query(signature), [KEY], None, NOW, {"sha256"}),
            TempUrlReason.UNSUPPORTED_DIGEST)
    md5 = "md5:" + base64.b64encode(
        hmac.new(KEY.encode(), hmac_body("GET", EXPIRES, PATH), "md5").digest()).decode()
    refused(validate("GET", PATH, query(md5), [KEY], None, NOW, {"md5", "sha256"}),
            TempUrlReason.UNSUPPORTED_DIGEST)
    upper = "SHA256:" + make_signature(KEY, "GET", EXPIRES, PATH, encoding="base64")[7:]
    refused(validate("GET", PATH, query(upper), [KEY], None, NOW),
            TempUrlReason.UNSUPPORTED_DIGEST)


def test_uppercase_hex_does_not_match() -> None:
    refused(validate("GET", PATH, query(sig().upper()), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)


@pytest.mark.parametrize(("params", "reason"), [
    ({}, TempUrlReason.MISSING),
    ({"temp_url_sig": "abc"}, TempUrlReason.MISSING),
    ({"temp_url_expires": str(EXPIRES)}, TempUrlReason.MISSING),
    ({"temp_url_sig": "", "temp_url_expires": str(EXPIRES)}, TempUrlReason.MISSING),
    ({"temp_url_sig": "abc", "temp_url_expires": ""}, TempUrlReason.MISSING),
    ({"temp_url_sig": "abc", "temp_url_expires": "tomorrow"}, TempUrlReason.MALFORMED_EXPIRES),
    ({"temp_url_sig": "abc", "temp_url_expires": "2011-12-10"}, TempUrlReason.MALFORMED_EXPIRES),
    ({"temp_url_sig": "abc", "temp_url_expires": "0"}, TempUrlReason.EXPIRED),
    ({"temp_url_sig": "abc", "temp_url_expires": str(EXPIRES - 61)}, TempUrlReason.EXPIRED),
    ({"temp_url_sig": "abc", "temp_url_expires": str(EXPIRES)}, TempUrlReason.MALFORMED_SIGNATURE),
    ({"temp_url_sig": "sha256:%%%", "temp_url_expires": str(EXPIRES)},
     TempUrlReason.MALFORMED_SIGNATURE),
    ({"temp_url_sig": "0" * 32, "temp_url_expires": str(EXPIRES)},
     TempUrlReason.MALFORMED_SIGNATURE),
    ({"temp_url_sig": "0" * 64, "temp_url_expires": str(EXPIRES)}, TempUrlReason.BAD_SIGNATURE),
])
def test_refusals(params: dict[str, str], reason: TempUrlReason) -> None:
    error = refused(validate("GET", PATH, params, [KEY], None, NOW), reason)
    assert error.body("GET") == INVALID_BODY == "401 Unauthorized: Temp URL invalid\n"
    assert error.body("HEAD") == ""


def test_expiry_boundary() -> None:
    assert isinstance(validate("GET", PATH, query(sig()), [KEY], None, float(EXPIRES)),
                      TempUrlGrant)
    refused(validate("GET", PATH, query(sig()), [KEY], None, EXPIRES + 0.001),
            TempUrlReason.EXPIRED)


def test_expires_is_signed_as_an_integer() -> None:
    # "0001323479485" and the ISO form both sign as 1323479485
    for given in ("0001323479485", "+1323479485", "2011-12-10T01:11:25Z"):
        ok(validate("GET", PATH, query(sig(), given), [KEY], None, NOW))
    refused(validate("GET", PATH, query(sig(expires=EXPIRES + 1)), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "DELETE"])
def test_method_must_match(method: str) -> None:
    ok(validate(method, PATH, query(sig(method)), [KEY], None, NOW))
    other = "PUT" if method == "GET" else "GET"
    refused(validate(other, PATH, query(sig(method)), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)


@pytest.mark.parametrize(("signed", "allowed"), [
    ("HEAD", True), ("GET", True), ("PUT", True), ("POST", True), ("DELETE", False),
])
def test_head_accepts_get_put_post_head_signatures(signed: str, allowed: bool) -> None:
    result = validate("HEAD", PATH, query(sig(signed)), [KEY], None, NOW)
    if allowed:
        assert ok(result).method == "HEAD"
    else:
        refused(result, TempUrlReason.BAD_SIGNATURE)


def test_methods_setting() -> None:
    refused(validate("COPY", PATH, query(sig("COPY")), [KEY], None, NOW),
            TempUrlReason.METHOD_NOT_ALLOWED)
    refused(validate("DELETE", PATH, query(sig("DELETE")), [KEY], None, NOW,
                     methods={"GET", "HEAD"}), TempUrlReason.METHOD_NOT_ALLOWED)
    refused(validate("OPTIONS", PATH, query(sig("OPTIONS")), [KEY], None, NOW),
            TempUrlReason.METHOD_NOT_ALLOWED)


@pytest.mark.parametrize("path", [
    "/v1/a/c", "/v1/a/c/", "/v1/a/c//", "/v1/a/c///", "/v1/a", "/v1", "/",
    "/v2/a/c/o", "v1/a/c/o", "/v1//c/o", "/v1/a//o", "//a/c/o", "/info",
])
def test_paths_that_are_not_objects(path: str) -> None:
    refused(validate("GET", path, query(sig(path=path)), [KEY], None, NOW),
            TempUrlReason.INVALID_PATH)


@pytest.mark.parametrize(("path", "obj"), [
    ("/v1/a/c/o", "o"),
    ("/v1/a/c/dir/sub/o", "dir/sub/o"),
    ("/v1/a/c//o", "/o"),
    ("/v1/a/c/o/", "o/"),
    ("/v1/a/c/\u00e9t\u00e9 file", "\u00e9t\u00e9 file"),
])
def test_object_paths(path: str, obj: str) -> None:
    grant = ok(validate("GET", path, query(sig(path=path)), [KEY], None, NOW))
    assert (grant.account, grant.container, grant.object_name) == ("a", "c", obj)


def test_signature_is_bound_to_the_path() -> None:
    refused(validate("GET", "/v1/AUTH_account/container/other", query(sig()), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)


def test_keys_and_scopes() -> None:
    refused(validate("GET", PATH, query(sig()), [], None, NOW), TempUrlReason.NO_KEYS)
    refused(validate("GET", PATH, query(sig()), ["other"], None, NOW),
            TempUrlReason.BAD_SIGNATURE)
    assert ok(validate("GET", PATH, query(sig()), ["other", KEY], None, NOW)).scope == "account"
    grant = ok(validate("GET", PATH, query(sig()), ["other"], None, NOW, container_keys=[KEY]))
    assert grant.scope == "container"
    assert ok(validate("GET", PATH, query(sig()), [], None, NOW,
                       container_keys=[KEY])).scope == "container"
    # the account key is preferred when both carry it
    assert ok(validate("GET", PATH, query(sig()), [KEY], None, NOW,
                       container_keys=[KEY])).scope == "account"


def test_unicode_key() -> None:
    key = "cl\u00e9"
    ok(validate("GET", PATH, query(sig(key=key)), [key], None, NOW))


def test_grant_allows_subrequests_within_scope() -> None:
    account_grant = ok(validate("GET", PATH, query(sig()), [KEY], None, NOW))
    assert account_grant.allows("AUTH_account", "segments") is True
    assert account_grant.allows("AUTH_account") is True
    assert account_grant.allows("AUTH_other", "container") is False
    container_grant = ok(validate("GET", PATH, query(sig()), [], None, NOW, container_keys=[KEY]))
    assert container_grant.allows("AUTH_account", "container") is True
    assert container_grant.allows("AUTH_account", "segments") is False
    assert container_grant.allows("AUTH_account") is False


# ---------------------------------------------------------------- prefix-based URLs


def prefix_sig(prefix: str, method: str = "GET", key: str = KEY) -> str:
    return make_signature(key, method, EXPIRES, "/v1/AUTH_account/container", prefix=prefix)


@pytest.mark.parametrize("path", [
    "/v1/AUTH_account/container/pre",
    "/v1/AUTH_account/container/pre/object",
    "/v1/AUTH_account/container/pre/subfolder/another_object",
    "/v1/AUTH_account/container/prefixed",
])
def test_prefix_based(path: str) -> None:
    grant = ok(validate("GET", path, query(prefix_sig("pre"), temp_url_prefix="pre"),
                        [KEY], None, NOW))
    assert grant.prefix == "pre"
    assert grant.prefix_based is True


def test_prefix_mismatch_and_tampering() -> None:
    refused(validate("GET", "/v1/AUTH_account/container/other/o",
                     query(prefix_sig("pre"), temp_url_prefix="pre"), [KEY], None, NOW),
            TempUrlReason.PREFIX_MISMATCH)
    # widening the prefix breaks the signature
    refused(validate("GET", "/v1/AUTH_account/container/pre/o",
                     query(prefix_sig("pre"), temp_url_prefix="pr"), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)
    # an object signature is not a prefix signature, nor the other way round
    refused(validate("GET", PATH, query(sig(), temp_url_prefix="obj"), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)
    refused(validate("GET", "/v1/AUTH_account/container/pre",
                     query(prefix_sig("pre")), [KEY], None, NOW),
            TempUrlReason.BAD_SIGNATURE)


def test_empty_prefix_covers_the_container() -> None:
    grant = ok(validate("GET", PATH, query(prefix_sig(""), temp_url_prefix=""), [KEY], None, NOW))
    assert grant.prefix == ""
    assert grant.container_root is False


def test_container_root_carve_out() -> None:
    root = "/v1/AUTH_account/container"
    params = query(prefix_sig(""), temp_url_prefix="")
    refused(validate("GET", root, params, [KEY], None, NOW), TempUrlReason.INVALID_PATH)
    for path in (root, root + "/"):
        for method in ("GET", "HEAD"):
            grant = ok(validate(method, path, params, [KEY], None, NOW,
                                allow_container_root=True))
            assert grant.container_root is True
            assert grant.object_name == ""
    # only GET/HEAD, and only with an empty prefix
    refused(validate("PUT", root, query(prefix_sig("", "PUT"), temp_url_prefix=""), [KEY],
                     None, NOW, allow_container_root=True), TempUrlReason.INVALID_PATH)
    refused(validate("GET", root, query(prefix_sig("p"), temp_url_prefix="p"), [KEY],
                     None, NOW, allow_container_root=True), TempUrlReason.INVALID_PATH)
    # objects still work, and are not container-root grants
    grant = ok(validate("GET", PATH, params, [KEY], None, NOW, allow_container_root=True))
    assert grant.container_root is False


# ---------------------------------------------------------------- IP ranges


@pytest.mark.parametrize(("ip_range", "client", "reason"), [
    ("1.2.3.4", "1.2.3.4", None),
    ("1.2.3.0/24", "1.2.3.200", None),
    ("1.2.3.0/24", "1.2.4.1", TempUrlReason.IP_NOT_ALLOWED),
    ("1.2.3.4", "1.2.3.5", TempUrlReason.IP_NOT_ALLOWED),
    ("2001:db8::/32", "2001:db8::1", None),
    ("2001:db8::/32", "1.2.3.4", TempUrlReason.IP_NOT_ALLOWED),
    ("1.2.3.0/24", "::ffff:1.2.3.4", TempUrlReason.IP_NOT_ALLOWED),
    ("1.2.3.4/24", "1.2.3.4", TempUrlReason.MALFORMED_IP_RANGE),  # host bits set
    ("1.2.3", "1.2.3.4", TempUrlReason.MALFORMED_IP_RANGE),
    ("1.2.3.0/24", "not-an-ip", TempUrlReason.MALFORMED_IP_RANGE),
    ("1.2.3.0/24", None, TempUrlReason.NO_CLIENT_ADDRESS),
])
def test_ip_range(ip_range: str, client: str | None, reason: TempUrlReason | None) -> None:
    params = query(sig(ip_range=ip_range), temp_url_ip_range=ip_range)
    result = validate("GET", PATH, params, [KEY], client, NOW)
    if reason is None:
        assert ok(result).ip_range == ip_range
    else:
        refused(result, reason)


def test_ip_range_is_signed() -> None:
    # a signature without the range does not work with one, nor the reverse
    refused(validate("GET", PATH, query(sig(), temp_url_ip_range="1.2.3.4"), [KEY],
                     "1.2.3.4", NOW), TempUrlReason.BAD_SIGNATURE)
    refused(validate("GET", PATH, query(sig(ip_range="1.2.3.4")), [KEY], "1.2.3.4", NOW),
            TempUrlReason.BAD_SIGNATURE)
    # an empty range is no range
    grant = ok(validate("GET", PATH, query(sig(), temp_url_ip_range=""), [KEY], None, NOW))
    assert grant.ip_range is None


def test_ip_range_with_head_and_prefix() -> None:
    signature = make_signature(KEY, "GET", EXPIRES, "/v1/AUTH_account/container",
                               prefix="p", ip_range="10.0.0.0/8")
    params = query(signature, temp_url_prefix="p", temp_url_ip_range="10.0.0.0/8")
    ok(validate("HEAD", "/v1/AUTH_account/container/p/o", params, [KEY], "10.1.2.3", NOW))


# ---------------------------------------------------------------- response headers


@pytest.mark.parametrize(("filename", "inline", "obj", "existing", "value"), [
    (None, False, "object", None, "attachment; filename=\"object\"; filename*=UTF-8''object"),
    (None, False, "dir/sub/report.pdf", None,
     "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"),
    (None, False, "dir/sub/", None, "attachment; filename=\"sub\"; filename*=UTF-8''sub"),
    ("My Test File.pdf", False, "object", None,
     "attachment; filename=\"My Test File.pdf\"; filename*=UTF-8''My%20Test%20File.pdf"),
    ("My Test File.pdf", True, "object", None,
     "inline; filename=\"My Test File.pdf\"; filename*=UTF-8''My%20Test%20File.pdf"),
    (None, True, "object", None, "inline"),
    (None, True, "object", "attachment; filename=x", "inline"),
    (None, False, "object", "attachment; filename=x", "attachment; filename=x"),
    ("y", False, "object", "attachment; filename=x",
     "attachment; filename=\"y\"; filename*=UTF-8''y"),
    ("", False, "object", None, "attachment; filename=\"object\"; filename*=UTF-8''object"),
    ("caf\u00e9 \"q\".txt", False, "o", None,
     "attachment; filename=\"caf%C3%A9 %22q%22.txt\"; "
     "filename*=UTF-8''caf%C3%A9%20%22q%22.txt"),
    ("a/b;c", False, "o", None, "attachment; filename=\"a/b%3Bc\"; filename*=UTF-8''a/b%3Bc"),
    ("a\nb", False, "o", None, "attachment; filename=\"a%0Ab\"; filename*=UTF-8''a%0Ab"),
    (None, False, "o", "x\ny", "x%0Ay"),
    # a lone surrogate: its three UTF-8 bytes each become U+FFFD, as in Swift
    ("\udce9", False, "o", None,
     "attachment; filename=\"%EF%BF%BD%EF%BF%BD%EF%BF%BD\"; "
     "filename*=UTF-8''%EF%BF%BD%EF%BF%BD%EF%BF%BD"),
])
def test_content_disposition(filename: str | None, inline: bool, obj: str,
                             existing: str | None, value: str) -> None:
    assert content_disposition(filename, inline, obj, existing) == value


def test_grant_carries_disposition_choices() -> None:
    params = query(sig(), filename="My Test File.pdf", inline="")
    grant = ok(validate("GET", PATH, params, [KEY], None, NOW))
    assert (grant.filename, grant.inline) == ("My Test File.pdf", True)
    assert grant.content_disposition() == (
        "inline; filename=\"My Test File.pdf\"; filename*=UTF-8''My%20Test%20File.pdf")
    grant = ok(validate("GET", PATH, query(sig(), filename=""), [KEY], None, NOW))
    assert grant.filename is None
    assert grant.content_disposition("inline") == "inline"


def test_expires_header() -> None:
    assert expires_header(1323479485) == "Sat, 10 Dec 2011 01:11:25 GMT"
    assert expires_header(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert expires_header(10**20) == "Fri, 31 Dec 9999 23:59:59 GMT"


@pytest.mark.parametrize(("method", "headers", "body"), [
    ("PUT", ["Content-Type", "X-Object-Manifest"],
     "The header 'X-Object-Manifest' is not allowed in this tempurl"),
    ("POST", ["x-symlink-target"], "The header 'X-Symlink-Target' is not allowed in this tempurl"),
    ("PUT", ["Content-Type"], None),
    ("GET", ["X-Object-Manifest"], None),
    ("HEAD", ["X-Symlink-Target"], None),
])
def test_disallowed_header(method: str, headers: list[str], body: str | None) -> None:
    assert disallowed_header(method, headers) == body


@pytest.mark.parametrize(("name", "incoming", "outgoing"), [
    ("X-Timestamp", False, True),
    ("x-open-expired", False, True),
    ("Content-Type", True, True),
    ("X-Object-Meta-Color", True, False),
    ("x-object-meta-public-color", True, True),
    ("X-Object-Meta-Public", True, False),
])
def test_header_filters(name: str, incoming: bool, outgoing: bool) -> None:
    assert incoming_header_allowed(name) is incoming
    assert outgoing_header_allowed(name) is outgoing


def test_allowed_digests_from_conf() -> None:
    assert allowed_digests_from_conf([]) == frozenset({"sha1", "sha256", "sha512"})
    assert allowed_digests_from_conf(["SHA1", "sha256", "md5"]) == frozenset({"sha1", "sha256"})
    with pytest.raises(ValueError, match="No valid digest algorithms are configured"):
        allowed_digests_from_conf(["md5"])
