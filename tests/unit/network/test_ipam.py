"""The IP address arithmetic alone: usable ranges, gateways, pools, allocation, EUI-64,
MACs and subnet pool prefixes."""

from __future__ import annotations

import ipaddress

import pytest

from network.core import ipam
from network.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidInput,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)

NET = ipam.network("10.0.0.0/26")
V6 = ipam.network("2001:db8::/64")


def test_usable_addresses_and_default_gateway() -> None:
    r = ipam.usable(NET)
    assert (str(ipaddress.ip_address(r.first)), str(ipaddress.ip_address(r.last))) == (
        "10.0.0.1", "10.0.0.62")
    assert ipam.default_gateway(NET) == "10.0.0.1"
    assert ipam.default_gateway(V6) == "2001:db8::1"
    # IPv6 has no broadcast address: the last address is usable
    assert ipam.is_usable(V6, ipam.address("2001:db8::ffff:ffff:ffff:ffff"))
    assert not ipam.is_usable(NET, ipam.address("10.0.0.63"))
    assert not ipam.is_usable(NET, ipam.address("10.0.0.0"))
    assert not ipam.is_usable(NET, ipam.address("2001:db8::1"))


def test_default_pools_leave_out_the_gateway() -> None:
    assert ipam.default_pools(NET, "10.0.0.1") == [{"start": "10.0.0.2", "end": "10.0.0.62"}]
    assert ipam.default_pools(NET, "10.0.0.30") == [
        {"start": "10.0.0.1", "end": "10.0.0.29"}, {"start": "10.0.0.31", "end": "10.0.0.62"}]
    assert ipam.default_pools(NET, None) == [{"start": "10.0.0.1", "end": "10.0.0.62"}]
    assert ipam.default_pools(ipam.network("10.0.0.0/32"), None) == []
    assert ipam.pool_size(ipam.default_pools(NET, "10.0.0.1")) == 61


@pytest.mark.parametrize(("pools", "error"), [
    ([{"start": "10.0.0.10", "end": "10.0.0.5"}], InvalidAllocationPool),
    ([{"start": "10.0.0.10", "end": "2001:db8::5"}], InvalidAllocationPool),
    ([{"start": "nonsense", "end": "10.0.0.5"}], InvalidAllocationPool),
    ([{"start": "10.0.0.0", "end": "10.0.0.5"}], OutOfBoundsAllocationPool),
    ([{"start": "10.0.0.50", "end": "10.0.0.63"}], OutOfBoundsAllocationPool),
    ([{"start": "10.0.1.1", "end": "10.0.1.5"}], OutOfBoundsAllocationPool),
    ([{"start": "10.0.0.2", "end": "10.0.0.10"}, {"start": "10.0.0.10", "end": "10.0.0.20"}],
     OverlappingAllocationPools),
    ([{"start": "10.0.0.1", "end": "10.0.0.10"}], GatewayConflictWithAllocationPools),
])
def test_bad_pools(pools: list[dict[str, str]], error: type[Exception]) -> None:
    with pytest.raises(error):
        ipam.validate_pools(NET, pools, "10.0.0.1")


def test_statuses_of_pool_errors() -> None:
    assert InvalidAllocationPool("x").status == 400
    assert OutOfBoundsAllocationPool("x", "y").status == 400
    assert OverlappingAllocationPools("x", "y", "z").status == 409
    assert GatewayConflictWithAllocationPools("x", "y").status == 409


def test_good_pools_pass() -> None:
    ipam.validate_pools(NET, [{"start": "10.0.0.20", "end": "10.0.0.30"},
                              {"start": "10.0.0.2", "end": "10.0.0.10"}], "10.0.0.1")
    ipam.validate_pools(NET, [{"start": "10.0.0.1", "end": "10.0.0.62"}], None)


@pytest.mark.parametrize("gateway", ["10.0.1.1", "10.0.0.0", "10.0.0.63", "2001:db8::1"])
def test_gateway_outside_the_subnet_is_refused(gateway: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ipam.validate_gateway(NET, gateway)
    assert err.value.status == 400 and gateway in err.value.message


def test_first_free_skips_used_addresses_and_fills_pools_in_order() -> None:
    pools = [{"start": "10.0.0.10", "end": "10.0.0.11"}, {"start": "10.0.0.2", "end": "10.0.0.3"}]
    used = {int(ipam.address(a)) for a in ("10.0.0.2", "10.0.0.10")}
    assert ipam.first_free(pools, set(), 4) == "10.0.0.2"
    assert ipam.first_free(pools, used, 4) == "10.0.0.3"
    used |= {int(ipam.address("10.0.0.3")), int(ipam.address("10.0.0.11"))}
    assert ipam.first_free(pools, used, 4) is None


def test_eui64_is_the_slaac_address_of_a_mac() -> None:
    assert ipam.eui64(V6, "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"


def test_macs() -> None:
    mac = ipam.random_mac("fa:16:3e:00:00:00")
    assert mac.startswith("fa:16:3e:") and ipam.normalize_mac(mac) == mac
    assert ipam.normalize_mac("FA-16-3E-AA-BB-CC") == "fa:16:3e:aa:bb:cc"
    for bad in ("01:00:5e:00:00:01", "00:00:00:00:00:00", "fa:16:3e:aa:bb", "zz:16:3e:aa:bb:cc"):
        assert ipam.normalize_mac(bad) is None, bad


def test_overlap_and_containment() -> None:
    a, b = ipam.network("10.0.0.0/24"), ipam.network("10.0.0.128/25")
    assert ipam.overlaps(a, b) and ipam.overlaps(b, a)
    assert ipam.subnet_of(b, a) and not ipam.subnet_of(a, b)
    assert not ipam.overlaps(a, ipam.network("10.0.1.0/24"))
    assert not ipam.overlaps(a, V6)


def test_prefix_allocation_takes_the_first_free_block() -> None:
    pool = ipam.collapse([ipam.network("10.10.0.0/17"), ipam.network("10.10.128.0/17")])
    assert [str(p) for p in pool] == ["10.10.0.0/16"]
    used = [ipam.network("10.10.0.0/24"), ipam.network("10.10.2.0/23")]
    assert str(ipam.allocate_prefix(pool, used, 24)) == "10.10.1.0/24"
    assert str(ipam.allocate_prefix(pool, used, 23)) == "10.10.4.0/23"
    assert ipam.allocate_prefix([ipam.network("10.20.0.0/24")],
                                [ipam.network("10.20.0.0/25")], 24) is None
    # a large IPv6 pool is not walked block by block
    assert str(ipam.allocate_prefix([ipam.network("2001:db8::/32")],
                                    [ipam.network("2001:db8::/64")], 64)) == "2001:db8:0:1::/64"
