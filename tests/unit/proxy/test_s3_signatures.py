"""SigV4/SigV2 canonicalization of the S3 front, against AWS's published examples
(Signature Version 4 for S3, "Examples: Signature Calculations") and botocore."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time

import pytest
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy

from common import sigv4
from proxy.s3 import auth, sigv2
from proxy.s3.errors import S3Error
from proxy.s3.request import split_path, valid_new_bucket

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HOST = "examplebucket.s3.amazonaws.com"
SCOPE = "20130524/us-east-1/s3/aws4_request"
NOW = float(calendar.timegm(time.strptime("20130524T000000Z", "%Y%m%dT%H%M%SZ")))


def headers(**kw: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in kw.items()}))


def v4_auth(signed: str, sig: str = "0" * 64) -> str:
    return (f"AWS4-HMAC-SHA256 Credential={ACCESS}/{SCOPE}, SignedHeaders={signed}, "
            f"Signature={sig}")


def test_get_object_example() -> None:
    h = headers(Host=HOST, Range="bytes=0-9", x_amz_content_sha256=sigv4.EMPTY_SHA256,
                x_amz_date="20130524T000000Z",
                Authorization=v4_auth("host;range;x-amz-content-sha256;x-amz-date"))
    canonical = sigv4.canonical_request(
        "GET", "/test.txt", [], h.items(),
        ["host", "range", "x-amz-content-sha256", "x-amz-date"], sigv4.EMPTY_SHA256)
    assert canonical == (
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    signed = auth.parse("GET", "/test.txt", "", h, now=NOW)
    assert signed is not None and signed.access == ACCESS
    assert signed.string_to_sign == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    assert sigv4.signature(SECRET, SCOPE, signed.string_to_sign) == \
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


def test_put_object_example_encodes_the_path() -> None:
    payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    signed_headers = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"
    h = headers(Host=HOST, Date="Fri, 24 May 2013 00:00:00 GMT", x_amz_date="20130524T000000Z",
                x_amz_storage_class="REDUCED_REDUNDANCY", x_amz_content_sha256=payload,
                Authorization=v4_auth(signed_headers))
    signed = auth.parse("PUT", "/test%24file.text", "", h, now=NOW)
    assert signed is not None and signed.payload_hash == payload
    assert sigv4.canonical_uri("/test$file.text") == "/test%24file.text"
    assert sigv4.signature(SECRET, SCOPE, signed.string_to_sign) == \
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"


@pytest.mark.parametrize(("query", "want"), [
    ("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ("prefix=J&max-keys=2", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
])
def test_bucket_examples_sort_the_query(query: str, want: str) -> None:
    h = headers(Host=HOST, x_amz_date="20130524T000000Z",
                x_amz_content_sha256=sigv4.EMPTY_SHA256,
                Authorization=v4_auth("host;x-amz-content-sha256;x-amz-date"))
    signed = auth.parse("GET", "/", query, h, now=NOW)
    assert signed is not None
    assert sigv4.signature(SECRET, SCOPE, signed.string_to_sign) == want


def test_presigned_example() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
             "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
             "&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f99533"
             "0da4c265957d157751f604d404")
    signed = auth.parse("GET", "/test.txt", query, headers(Host=HOST), now=NOW + 60)
    assert signed is not None and signed.payload_hash == "UNSIGNED-PAYLOAD"
    assert signed.signature == sigv4.signature(SECRET, SCOPE, signed.string_to_sign) == \
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    with pytest.raises(S3Error) as exc:  # a day later it has expired
        auth.parse("GET", "/test.txt", query, headers(Host=HOST), now=NOW + 86401)
    assert (exc.value.code, exc.value.status, exc.value.message) == \
        ("AccessDenied", 403, "Request has expired")


def test_uri_encoding_rules() -> None:
    assert sigv4.uri_encode("a b+c/d~e_f-g.h*é") == "a%20b%2Bc%2Fd~e_f-g.h%2A%C3%A9"
    assert sigv4.canonical_uri("/b/a%20b/c%2Bd") == "/b/a%20b/c%2Bd"
    assert sigv4.canonical_uri("/b/a b/c+d") == "/b/a%20b/c%2Bd"
    assert sigv4.canonical_query(sigv4.split_query("b=2&a=x%2Fy&a=1&acl")) == \
        "a=1&a=x%2Fy&acl=&b=2"
    assert sigv4.canonical_headers([("X-A", "  a   b  "), ("x-a", "c")], ["x-a"]) == "x-a:a b,c\n"


@pytest.mark.parametrize("path", [
    "/", "/b/key", "/b/a-b_c.d~e/f", "/b//k/", "/b/a%20b", "/b/a b", "/b/%7Ekey", "/b/a+b",
    "/b/%2Fk", "/b/caf%C3%A9", "/b/café", "", "b/key", "/b/key?acl", "/b/k*(1)"])
def test_canonical_uri_plain_path_shortcut(path: str) -> None:
    """A path of unreserved characters is its own canonical form; every other path
    is decoded once and encoded again (the two ways agree wherever both apply)."""
    slow = sigv4.uri_encode(sigv4.unquote(path.split("?", 1)[0]) or "/", encode_slash=False)
    assert sigv4.canonical_uri(path) == slow


def test_canonical_headers_from_the_request_multidict() -> None:
    """The request's own headers (looked up by signed name) and their pairs give the
    same canonical block: any case, repeated headers in order, spaces collapsed."""
    pairs = [("Host", "h"), ("X-Amz-Meta-A", "  one   two "), ("x-amz-meta-a", "three"),
             ("X-Amz-Date", "20130524T000000Z"), ("Unsigned", "x")]
    signed = ["host", "x-amz-date", "x-amz-meta-a", "x-amz-missing"]
    proxy_headers = CIMultiDictProxy(CIMultiDict(pairs))
    assert sigv4.canonical_headers(proxy_headers, signed) == \
        sigv4.canonical_headers(pairs, signed) == \
        "host:h\nx-amz-date:20130524T000000Z\nx-amz-meta-a:one two,three\nx-amz-missing:\n"


def test_time_skew_and_malformed_credentials() -> None:
    h = headers(Host=HOST, x_amz_date="20130524T000000Z",
                x_amz_content_sha256=sigv4.EMPTY_SHA256,
                Authorization=v4_auth("host;x-amz-content-sha256;x-amz-date"))
    assert auth.parse("GET", "/", "", h, now=NOW + 899) is not None
    with pytest.raises(S3Error) as exc:
        auth.parse("GET", "/", "", h, now=NOW + 901)
    assert (exc.value.code, exc.value.status) == ("RequestTimeTooSkewed", 403)
    bad = headers(Host=HOST, x_amz_date="20130525T000000Z",
                  x_amz_content_sha256=sigv4.EMPTY_SHA256,
                  Authorization=v4_auth("host;x-amz-content-sha256;x-amz-date"))
    with pytest.raises(S3Error) as exc:
        auth.parse("GET", "/", "", bad, now=NOW + 86400)
    assert (exc.value.code, exc.value.status) == ("AuthorizationHeaderMalformed", 400)
    assert auth.parse("GET", "/", "", headers(Host=HOST)) is None  # anonymous


def test_the_scope_must_name_one_of_our_regions() -> None:
    h = headers(Host=HOST, x_amz_date="20130524T000000Z",
                x_amz_content_sha256=sigv4.EMPTY_SHA256,
                Authorization=v4_auth("host;x-amz-content-sha256;x-amz-date"))
    # AWS's example is signed for us-east-1
    assert auth.parse("GET", "/", "", h, now=NOW, regions=("RegionOne", "us-east-1"))
    with pytest.raises(S3Error) as exc:
        auth.parse("GET", "/", "", h, now=NOW, regions=("RegionTwo",))
    assert (exc.value.code, exc.value.status) == ("AuthorizationHeaderMalformed", 400)
    assert exc.value.extra["Region"] == "RegionTwo"


def test_sigv2_matches_botocore() -> None:
    req = AWSRequest(method="PUT", url="http://h/bucket/a%20key?acl&foo=bar",
                     headers={"Content-Type": "text/plain", "x-amz-meta-b": "2",
                              "X-Amz-Meta-A": "1", "Content-MD5": "abc=="})
    HmacV1Auth(Credentials(ACCESS, SECRET)).add_auth(req)
    h = headers(**{k.replace("-", "_"): v for k, v in req.headers.items()})
    assert sigv2.string_to_sign("PUT", h.items(), "/bucket/a%20key",
                                sigv4.split_query("acl&foo=bar")) == (
        f"PUT\nabc==\ntext/plain\n{req.headers['Date']}\nx-amz-meta-a:1\nx-amz-meta-b:2\n"
        "/bucket/a%20key?acl")
    signed = auth.parse("PUT", "/bucket/a%20key", "acl&foo=bar", h)
    assert signed is not None and signed.access == ACCESS
    assert req.headers["Authorization"] == f"AWS {ACCESS}:{signed.signature}"
    import base64
    import hashlib
    import hmac
    assert signed.signature == base64.b64encode(hmac.new(
        SECRET.encode(), signed.string_to_sign.encode(), hashlib.sha1).digest()).decode()


def test_paths_and_bucket_names() -> None:
    assert split_path("/") == (None, None)
    assert split_path("/b") == ("b", None)
    assert split_path("/b/") == ("b", None)
    assert split_path("/b/a%2Fc/d%20e") == ("b", "a/c/d e")
    for good in ("abc", "my.bucket-1", "a" * 63):
        assert valid_new_bucket(good), good
    for bad in ("ab", "a" * 64, "Upper", "a..b", "a.-b", "-ab", "ab-", "192.168.1.1", "a_b"):
        assert not valid_new_bucket(bad), bad


@pytest.mark.parametrize("value", ["20261124T221500Z", "20240229T235959Z", "19700101T000000Z"])
def test_amz_time_matches_strptime(value: str) -> None:
    assert auth._amz_time(value) == calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))


@pytest.mark.parametrize("value", ["20230229T000000Z", "20261324T221500Z", "2026112T221500Z",
                                   "20261124T241500Z", "20261124T221500", "", "x" * 16,
                                   "\uff12\uff10\uff12\uff161124T221500Z"])  # full-width digits
def test_amz_time_refuses_what_is_not_a_time(value: str) -> None:
    with pytest.raises(S3Error) as err:
        auth._amz_time(value)
    assert err.value.code == "AccessDenied"


@pytest.mark.parametrize("value", [
    "a", "a b", " a", "a ", "a  b", "", "a\tb", "a\t b", "x y z", "  ", "a\u00a0b", "a\x1cb",
    "\u3000a", "é  é"])
def test_canonical_header_values_trimmed_and_collapsed(value: str) -> None:
    """A value already in canonical form is taken as it is; any other has its
    whitespace trimmed and runs of it collapsed to one space (AWS's Trimall)."""
    h = CIMultiDictProxy(CIMultiDict([("X-A", value)]))
    assert sigv4.canonical_headers(h, ["x-a"]) == "x-a:" + " ".join(value.split()) + "\n"


@pytest.mark.parametrize("key_size", [1, 16, 32, 63, 64, 65, 200])
def test_signed_with_is_hmac_sha256(key_size: int) -> None:
    """The cached check of a signature (precomputed HMAC pads) says what HMAC-SHA256
    says, for keys shorter and longer than SHA-256's block."""
    key = bytes(range(256))[:key_size]
    for sts in ("", "AWS4-HMAC-SHA256\n20130524T000000Z\n" + SCOPE + "\n" + "ab" * 32):
        good = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        assert sigv4.signed_with(key, sts, good)
        assert not sigv4.signed_with(key, sts + "x", good)
        assert not sigv4.signed_with(key, sts, good[:-1] + ("0" if good[-1] != "0" else "1"))
        assert not sigv4.signed_with(key + b"x", sts, good)
        assert not sigv4.signed_with(key, sts, "")
        assert not sigv4.signed_with(key, sts, "é" * 64)  # refused, not a TypeError
        assert sigv4.hmac_hex(key, sts) == good


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 Credential={c}, SignedHeaders={s}, Signature={g}",
    "AWS4-HMAC-SHA256 Credential={c},SignedHeaders={s},Signature={g}",
    "AWS4-HMAC-SHA256 Signature={g}, Credential={c}, SignedHeaders={s}",
    "AWS4-HMAC-SHA256 Credential={c},  SignedHeaders={s} , Signature={g}",
])
def test_authorization_header_forms_agree(authorization: str) -> None:
    """The header as SDKs write it (matched at once) and its other spellings (split
    field by field) are read alike."""
    h = headers(Host=HOST, x_amz_date="20130524T000000Z",
                x_amz_content_sha256=sigv4.EMPTY_SHA256,
                Authorization=authorization.format(
                    c=f"{ACCESS}/{SCOPE}", s="host;x-amz-content-sha256;x-amz-date",
                    g="f" * 64))
    signed = auth.parse("GET", "/", "", h, now=NOW)
    assert signed is not None
    assert (signed.access, signed.signature) == (ACCESS, "f" * 64)
    assert signed.string_to_sign.split("\n")[:3] == [
        sigv4.ALGORITHM, "20130524T000000Z", SCOPE]


def test_authorization_header_missing_a_field_is_malformed() -> None:
    h = headers(Host=HOST, x_amz_date="20130524T000000Z",
                x_amz_content_sha256=sigv4.EMPTY_SHA256,
                Authorization=f"AWS4-HMAC-SHA256 Credential={ACCESS}/{SCOPE}, "
                              f"Signature={'f' * 64}")
    with pytest.raises(S3Error) as exc:
        auth.parse("GET", "/", "", h, now=NOW)
    assert exc.value.code == "AuthorizationHeaderMalformed"
