"""The ``OpenStack-API-Version`` negotiation the block store and compute share."""

from __future__ import annotations

import re

import pytest

from common.errors import BadRequest, NotAcceptable
from common.microversion import ApiVersion, parse

LO, HI = ApiVersion(2, 1), ApiVersion(2, 79)


@pytest.mark.parametrize(("header", "legacy", "expected"), [
    (None, None, LO), ("", None, LO), ("compute 2.53", None, ApiVersion(2, 53)),
    ("COMPUTE latest", None, HI), ("volume 3.1", None, LO),
    ("volume 3.1, compute 2.10", None, ApiVersion(2, 10)),
    (None, "2.12", ApiVersion(2, 12)), ("compute 2.3", "2.12", ApiVersion(2, 3)),
    (None, "latest", HI),
])
def test_the_services_own_version_or_the_legacy_one(header: str | None, legacy: str | None,
                                                    expected: ApiVersion) -> None:
    assert parse(header, "compute", LO, HI, legacy) == expected


@pytest.mark.parametrize("asked", ["two", "2", "2.01", "02.1", "2.1.0", "2.-1", "v2.1"])
def test_a_malformed_version_is_400(asked: str) -> None:
    message = f"API Version String {asked} is of invalid format"
    with pytest.raises(BadRequest, match=re.escape(message)):
        parse(f"compute {asked}", "compute", LO, HI)


@pytest.mark.parametrize("asked", ["2.0", "2.80", "3.1", "1.99"])
def test_a_version_outside_the_range_is_406(asked: str) -> None:
    with pytest.raises(NotAcceptable, match=re.escape("Minimum is 2.1 and maximum is 2.79")):
        parse(f"compute {asked}", "compute", LO, HI)


def test_versions_order_by_minor_within_a_major() -> None:
    assert ApiVersion(2, 9) < ApiVersion(2, 10) < ApiVersion(3, 0)
    assert str(ApiVersion(2, 10)) == "2.10" and ApiVersion(2, 10).at_least(9)
