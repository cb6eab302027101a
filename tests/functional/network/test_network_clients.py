"""The networking service driven by the real clients: the ``openstack`` CLI with the
demo user's openrc (the issue's acceptance run: every create, list, show, set and
delete) and openstacksdk's ``conn.network``; then the service on PostgreSQL, with
many ports made at once."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import openstack
import pytest

from tests.functional.conftest import fresh_pg_database
from tests.functional.network.network_server import NetworkCloud, network_cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkCloud]:
    with network_cloud(tmp_path_factory) as c:
        yield c


def names(rows: list[dict[str, Any]]) -> set[str]:
    return {r["Name"] for r in rows}


def quotas(cloud: NetworkCloud, who: str, *args: str) -> dict[str, Any]:
    """``openstack quota show --network [--usage] ...`` as resource -> row."""
    return {r["Resource"]: r for r in cloud.osc(who, "quota", "show", "--network", *args)}


def test_openstack_cli_demo_workflow(cloud: NetworkCloud) -> None:
    osc = cloud.osc
    assert {"public", "private"} <= names(osc("demo", "network", "list"))
    assert osc("demo", "network", "show", "public")["router:external"] is True
    net = osc("demo", "network", "create", "--description", "made by the CLI", "cli-net")
    assert net["status"] == "ACTIVE" and net["description"] == "made by the CLI"
    sub = osc("demo", "subnet", "create", "--network", "cli-net", "--subnet-range",
              "192.168.20.0/24", "--dns-nameserver", "192.168.20.53", "cli-sub")
    assert sub["cidr"] == "192.168.20.0/24" and sub["gateway_ip"] == "192.168.20.1"
    assert sub["allocation_pools"] == [{"start": "192.168.20.2", "end": "192.168.20.254"}]
    router = osc("demo", "router", "create", "cli-router")
    assert router["external_gateway_info"] is None
    p = cloud.osc_plain("demo", "router", "set", "--external-gateway", "public", "cli-router")
    assert p.returncode == 0, p.stderr
    p = cloud.osc_plain("demo", "router", "add", "subnet", "cli-router", "cli-sub")
    assert p.returncode == 0, p.stderr
    shown = osc("demo", "router", "show", "cli-router")
    assert shown["external_gateway_info"]["network_id"] == osc(
        "demo", "network", "show", "public")["id"]
    assert [i["ip_address"] for i in shown["interfaces_info"]] == ["192.168.20.1"]
    port = osc("demo", "port", "create", "--network", "cli-net", "cli-port")
    ip = port["fixed_ips"][0]["ip_address"]
    assert ip.startswith("192.168.20.")
    sg = osc("demo", "security", "group", "create", "--description", "web servers", "cli-sg")
    icmp = osc("demo", "security", "group", "rule", "create", "--protocol", "icmp", "cli-sg")
    ssh = osc("demo", "security", "group", "rule", "create", "--protocol", "tcp",
              "--dst-port", "22", "cli-sg")
    assert (ssh["port_range_min"], ssh["port_range_max"], ssh["protocol"]) == (22, 22, "tcp")
    rules = osc("demo", "security", "group", "rule", "list", "cli-sg")
    assert {icmp["id"], ssh["id"]} <= {r["ID"] for r in rules}
    p = cloud.osc_plain("demo", "port", "set", "--security-group", "cli-sg", "--name",
                        "cli-port2", "cli-port")
    assert p.returncode == 0, p.stderr
    assert sg["id"] in osc("demo", "port", "show", "cli-port2")["security_group_ids"]
    fip = osc("demo", "floating", "ip", "create", "public")
    address = fip["floating_ip_address"]
    assert address.startswith("172.24.4.") and fip["port_id"] is None
    p = cloud.osc_plain("demo", "floating", "ip", "set", "--port", "cli-port2", address)
    assert p.returncode == 0, p.stderr
    fip = osc("demo", "floating", "ip", "show", address)
    assert (fip["port_id"], fip["fixed_ip_address"]) == (port["id"], ip)
    assert address in {f["Floating IP Address"] for f in osc("demo", "floating", "ip",
                                                              "list")}
    quota = quotas(cloud, "demo", "--usage")
    assert quota["networks"]["Limit"] == 100 and quota["floating_ips"]["Limit"] == 50
    assert quota["floating_ips"]["In Use"] == 1 and quota["routers"]["In Use"] == 2
    # a port on a network without a router to public: the association is refused
    lone = osc("demo", "network", "create", "lone-net")
    osc("demo", "subnet", "create", "--network", "lone-net", "--subnet-range",
        "192.168.30.0/24", "lone-sub")
    osc("demo", "port", "create", "--network", "lone-net", "lone-port")
    other = osc("demo", "floating", "ip", "create", "public")["floating_ip_address"]
    p = cloud.osc_plain("demo", "floating", "ip", "set", "--port", "lone-port", other)
    assert p.returncode != 0 and "not reachable" in p.stderr
    # every set and delete, in an order the dependencies allow
    for args in (("network", "set", "--name", "lone-renamed", "lone-net"),
                 ("subnet", "set", "--name", "cli-sub2", "cli-sub"),
                 ("router", "set", "--description", "edge", "cli-router"),
                 ("security", "group", "set", "--name", "cli-sg2", "cli-sg"),
                 ("floating", "ip", "unset", "--port", address),
                 ("floating", "ip", "delete", address, other),
                 ("router", "remove", "subnet", "cli-router", "cli-sub2"),
                 ("router", "unset", "--external-gateway", "cli-router"),
                 ("router", "delete", "cli-router"),
                 ("port", "delete", "cli-port2", "lone-port"),
                 ("security", "group", "rule", "delete", icmp["id"], ssh["id"]),
                 ("security", "group", "delete", "cli-sg2"),
                 ("subnet", "delete", "cli-sub2", "lone-sub"),
                 ("network", "delete", "cli-net", "lone-renamed")):
        p = cloud.osc_plain("demo", *args)
        assert p.returncode == 0, f"openstack {' '.join(args)}: {p.stderr}"
    assert not {"cli-net", "lone-renamed"} & names(osc("demo", "network", "list"))
    assert lone["id"] not in {n["ID"] for n in osc("demo", "network", "list")}
    assert not osc("demo", "floating", "ip", "list")
    assert "cli-router" not in names(osc("demo", "router", "list"))


def test_openstack_cli_admin_commands(cloud: NetworkCloud) -> None:
    osc = cloud.osc
    ext = osc("admin", "network", "create", "--external", "--share", "ext2")
    assert ext["router:external"] is True and ext["shared"] is True
    assert "ext2" in names(osc("admin", "network", "list", "--external"))
    pool = osc("admin", "subnet", "pool", "create", "--pool-prefix", "10.60.0.0/16",
               "--default-prefix-length", "24", "--share", "cli-pool")
    sub = osc("admin", "subnet", "create", "--network", "ext2", "--subnet-pool", "cli-pool",
              "ext2-sub")
    assert sub["cidr"] == "10.60.0.0/24"
    assert quotas(cloud, "admin", "demo")["routers"]["Limit"] == 10
    p = cloud.osc_plain("admin", "quota", "set", "--routers", "7", "demo")
    assert p.returncode == 0, p.stderr
    assert quotas(cloud, "demo")["routers"]["Limit"] == 7
    avail = osc("admin", "ip", "availability", "show", "ext2")
    assert avail["total_ips"] == 253
    for args in (("subnet", "delete", "ext2-sub"), ("subnet", "pool", "delete", pool["id"]),
                 ("network", "delete", "ext2"), ("quota", "set", "--routers", "10", "demo")):
        p = cloud.osc_plain("admin", *args)
        assert p.returncode == 0, f"openstack {' '.join(args)}: {p.stderr}"


def test_openstacksdk_network(cloud: NetworkCloud) -> None:
    env = cloud.openrc("demo")
    conn = openstack.connect(
        auth_url=env["OS_AUTH_URL"], username="demo", password=env["OS_PASSWORD"],
        project_name="demo", user_domain_name="Default", project_domain_name="Default",
        region_name="RegionOne")
    try:
        net = conn.network
        public = net.find_network("public", ignore_missing=False)
        assert public.is_router_external
        n = net.create_network(name="sdk-net")
        s = net.create_subnet(network_id=n.id, ip_version=4, cidr="192.168.40.0/24",
                              name="sdk-sub")
        r = net.create_router(name="sdk-router",
                              external_gateway_info={"network_id": public.id})
        net.add_interface_to_router(r, subnet_id=s.id)
        net.add_extra_routes_to_router(r, body={"router": {"routes": [
            {"destination": "10.99.0.0/16", "nexthop": "192.168.40.5"}]}})
        assert net.get_router(r.id).routes == [
            {"destination": "10.99.0.0/16", "nexthop": "192.168.40.5"}]
        p = net.create_port(network_id=n.id, name="sdk-port")
        sg = net.create_security_group(name="sdk-sg")
        net.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                       protocol="tcp", port_range_min=80, port_range_max=80,
                                       ethertype="IPv4")
        net.update_port(p, security_group_ids=[sg.id])
        ip = net.create_ip(floating_network_id=public.id)
        net.update_ip(ip, port_id=p.id)
        assert net.get_ip(ip.id).fixed_ip_address == p.fixed_ips[0]["ip_address"]
        net.set_tags(n, ["blue", "green"])
        assert [x.id for x in net.networks(tags="blue")] == [n.id]
        assert {x.name for x in net.ports(network_id=n.id)} >= {"sdk-port"}
        quota = net.get_quota(conn.current_project_id, details=True)
        assert quota.networks["used"] >= 2
        assert [x.id for x in net.security_groups(name="sdk-sg")] == [sg.id]
        net.delete_ip(ip)
        net.delete_port(p)
        net.remove_extra_routes_from_router(r, body={"router": {"routes": [
            {"destination": "10.99.0.0/16", "nexthop": "192.168.40.5"}]}})
        net.remove_interface_from_router(r, subnet_id=s.id)
        net.delete_router(r)
        net.delete_security_group(sg)
        net.delete_subnet(s)
        net.delete_network(n)
        assert net.find_network("sdk-net") is None
    finally:
        conn.close()


def test_on_postgresql_with_ports_made_at_once(tmp_path_factory: pytest.TempPathFactory,
                                               postgres_url: str) -> None:
    """The schema migrates on PostgreSQL, the bootstrap runs there, and ports made by
    many clients at once each get their own address (racing transactions retry)."""
    url = fresh_pg_database(postgres_url)
    with network_cloud(tmp_path_factory, STRATA_NETWORK_DATABASE_URL=url) as pg:
        demo = pg.net("demo")
        (private,) = demo.get("/networks", params={"name": "private"})["networks"]

        def make(n: int) -> str:
            port = demo.make("ports", "port", network_id=private["id"], name=f"race-{n}")
            address: str = port["fixed_ips"][0]["ip_address"]
            return address

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            addresses = list(pool.map(make, range(24)))
        assert len(set(addresses)) == 24
        assert {"10.0.0.1", "10.0.0.2"}.isdisjoint(addresses)  # router and DHCP ports'
