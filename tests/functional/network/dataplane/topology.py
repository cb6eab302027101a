"""A desired state built by hand, as the networking service would build it.

Two projects, ``a`` and ``b``, each with a network on the same CIDR
(10.10.0.0/24), a DHCP port, a router to the external network ``public``
(172.24.4.0/24) and guest ports; project ``a`` also has an isolated network
(no router) whose guests reach metadata through the DHCP namespace.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from network.dataplane.model import (
    OWNER_DHCP,
    OWNER_ROUTER_GATEWAY,
    OWNER_ROUTER_INTERFACE,
    AddressPair,
    DesiredState,
    ExternalGateway,
    FixedIP,
    FloatingIP,
    HostRoute,
    MetadataSettings,
    Network,
    Port,
    Router,
    RouterInterface,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

HOST = "node1"
CIDR = "10.10.0.0/24"
ISOLATED_CIDR = "10.30.0.0/24"
PUBLIC_CIDR = "172.24.4.0/24"
PUBLIC_GATEWAY = "172.24.4.1"
FLOATING_IP = "172.24.4.100"


def new_id() -> str:
    return str(uuid.uuid4())


def new_mac() -> str:
    return "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))


def rule(direction: str, protocol: str | None = None, low: int | None = None,
         high: int | None = None, prefix: str | None = None, group: str | None = None,
         ethertype: str = "IPv4") -> SecurityGroupRule:
    return SecurityGroupRule(new_id(), direction, ethertype, protocol, low, high, prefix, group)


EGRESS_ALL = (rule("egress"), rule("egress", ethertype="IPv6"))


@dataclass
class Project:
    name: str
    network: Network
    subnet: Subnet
    dhcp: Port
    router: Router
    router_port: Port
    gateway_port: Port
    group_id: str
    guests: dict[str, Port] = field(default_factory=dict)


class Topology:
    def __init__(self, instance: str, metadata_socket: str = "") -> None:
        self.instance = instance
        self.metadata_socket = metadata_socket
        public_id = new_id()
        self.public_subnet = Subnet(new_id(), public_id, PUBLIC_CIDR, 4, PUBLIC_GATEWAY, False)
        self.public = Network(public_id, "admin", 1500, True, subnets=(self.public_subnet,))
        self.projects = {name: self._project(name, gw)
                         for name, gw in (("a", "172.24.4.10"), ("b", "172.24.4.20"))}
        # project a's isolated network: DHCP only, metadata through the DHCP namespace
        iso_id = new_id()
        self.iso_subnet = Subnet(new_id(), iso_id, ISOLATED_CIDR, 4, "10.30.0.1", True)
        self.isolated = Network(iso_id, self.projects["a"].network.project_id, 1450, False,
                                subnets=(self.iso_subnet,))
        self.iso_dhcp = Port(new_id(), iso_id, self.isolated.project_id, new_mac(),
                             (FixedIP(self.iso_subnet.id, "10.30.0.2"),), OWNER_DHCP,
                             device_id="dhcp", host=HOST)
        self.a1 = self.guest("a", "a1", "10.10.0.11")
        self.a2 = self.guest("a", "a2", "10.10.0.12")
        self.b1 = self.guest("b", "b1", "10.10.0.11")  # the same address as a1, on b's network
        self.c1 = self.guest_on(self.isolated, self.iso_subnet, self.projects["a"].group_id,
                                "10.30.0.11")

    def _project(self, name: str, gateway_ip: str) -> Project:
        project_id = "project-" + name
        network_id = new_id()
        subnet = Subnet(new_id(), network_id, CIDR, 4, "10.10.0.1", True,
                        dns_nameservers=("10.10.0.53",),
                        host_routes=(HostRoute("10.99.0.0/16", "10.10.0.254"),))
        network = Network(network_id, project_id, 1450, False, subnets=(subnet,))
        dhcp = Port(new_id(), network_id, project_id, new_mac(),
                    (FixedIP(subnet.id, "10.10.0.2"),), OWNER_DHCP, device_id="dhcp", host=HOST)
        router_id = new_id()
        router_port = Port(new_id(), network_id, project_id, new_mac(),
                           (FixedIP(subnet.id, "10.10.0.1"),), OWNER_ROUTER_INTERFACE,
                           device_id=router_id, host=HOST)
        gateway_port = Port(new_id(), self.public.id, "", new_mac(),
                            (FixedIP(self.public_subnet.id, gateway_ip),), OWNER_ROUTER_GATEWAY,
                            device_id=router_id, host=HOST)
        router = Router(
            router_id, project_id,
            gateway=ExternalGateway(self.public.id, gateway_port.id, gateway_port.mac_address,
                                    gateway_ip, 24, PUBLIC_GATEWAY),
            interfaces=(RouterInterface(router_port.id, network_id, subnet.id, "10.10.0.1", 24,
                                        router_port.mac_address),))
        return Project(name, network, subnet, dhcp, router, router_port, gateway_port, new_id())

    def guest(self, project: str, name: str, address: str) -> Port:
        p = self.projects[project]
        port = self.guest_on(p.network, p.subnet, p.group_id, address)
        p.guests[name] = port
        return port

    def guest_on(self, network: Network, subnet: Subnet, group_id: str, address: str) -> Port:
        return Port(new_id(), network.id, network.project_id, new_mac(),
                    (FixedIP(subnet.id, address),), "compute:nova", device_id=new_id(),
                    host=HOST, security_group_ids=(group_id,), mtu=network.mtu)

    def state(self, *, a_rules: tuple[SecurityGroupRule, ...] = EGRESS_ALL,
              b_rules: tuple[SecurityGroupRule, ...] | None = None,
              floating: bool = False, a2_security: bool = True,
              a2_pairs: tuple[AddressPair, ...] = (), a2_mac: str = "",
              projects: tuple[str, ...] = ("a", "b"), isolated: bool = True,
              extra_ports: tuple[Port, ...] = (), router_routes: tuple[HostRoute, ...] = (),
              enable_snat: bool = True) -> DesiredState:
        """The state of the whole topology, with the variations tests need."""
        if b_rules is None:  # b's guests take anything: a leak between projects would show
            b_rules = (*EGRESS_ALL, rule("ingress"))
        networks = [self.public]
        ports: list[Port] = []
        routers = []
        groups = []
        for name in projects:
            p = self.projects[name]
            networks.append(p.network)
            ports += [p.dhcp, p.router_port, p.gateway_port]
            for guest in p.guests.values():
                if guest.id == self.a2.id:
                    guest = Port(**{**guest.__dict__, "port_security_enabled": a2_security,
                                    "allowed_address_pairs": a2_pairs,
                                    "mac_address": a2_mac or guest.mac_address})
                ports.append(guest)
            router = p.router
            fips: tuple[FloatingIP, ...] = ()
            if name == "a" and floating:
                fips = (FloatingIP(new_id(), FLOATING_IP, self.a1.fixed_ips[0].ip_address,
                                   self.a1.id, router.id),)
            assert router.gateway is not None
            gateway = ExternalGateway(**{**router.gateway.__dict__, "enable_snat": enable_snat})
            routers.append(Router(router.id, router.project_id, gateway=gateway,
                                  interfaces=router.interfaces, floating_ips=fips,
                                  routes=router_routes if name == "a" else ()))
            groups.append(SecurityGroup(p.group_id, p.network.project_id,
                                        a_rules if name == "a" else b_rules))
        if isolated and "a" in projects:
            networks.append(self.isolated)
            ports += [self.iso_dhcp, self.c1]
        ports += extra_ports
        return DesiredState(
            instance=self.instance, host=HOST, networks=tuple(networks), ports=tuple(ports),
            security_groups=tuple(groups), routers=tuple(routers),
            metadata=MetadataSettings(self.metadata_socket))

    def empty(self) -> DesiredState:
        return DesiredState(instance=self.instance, host=HOST)
