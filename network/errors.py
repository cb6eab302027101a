"""Networking domain errors: the shared model of ``common.errors`` under Neutron's names.

No HTTP here: ``common.http`` maps each by its status. Every class's name is the
``type`` of Neutron's error body (``{"NeutronError": {"type", "message",
"detail"}}``), which the API's error format reads from :attr:`NeutronError.kind`;
the statuses are the real service's (an ``InUse`` or ``OverQuota`` is 409, an
invalid value 400, an invisible resource 404).
"""

from __future__ import annotations

from typing import Any, ClassVar

from common.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed


class NeutronError:
    """Mixin naming an error's Neutron ``type``: its class name."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, kind: str = "", **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.kind = kind or cls.__name__


# -- the API layer's own refusals (Neutron answers these as webob exceptions) --------


class HTTPBadRequest(NeutronError, BadRequest):
    """A request that does not parse: unknown or read-only attribute, wrong type, bad
    filter, sort key or page marker."""


class PolicyNotAuthorized(NeutronError, Forbidden):
    def __init__(self, action: str) -> None:
        super().__init__(f"({action}) is disallowed by policy")


class RevisionNumberConstraintFailed(NeutronError, PreconditionFailed):
    """``If-Match: revision_number=N`` did not hold (412)."""

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"Constrained to {expected}, but current revision is {current}")


# -- generic ---------------------------------------------------------------------------


class InvalidInput(NeutronError, BadRequest):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid input for operation: {detail}.")


class BadRequestError(NeutronError, BadRequest, kind="BadRequest"):
    """Neutron's generic ``BadRequest``: 'Bad <resource> request: <why>.'"""

    def __init__(self, resource: str, why: str) -> None:
        super().__init__(f"Bad {resource} request: {why}.")


class OverQuota(NeutronError, Conflict):
    def __init__(self, resources: list[str]) -> None:
        super().__init__(f"Quota exceeded for resources: {resources}.")
        self.resources = resources


class InvalidQuotaValue(NeutronError, Conflict):
    def __init__(self, resource: str, limit: int, used: int) -> None:
        super().__init__(f"Quota limit {limit} for {resource} must be greater than or equal "
                         f"to already used and reserved {used}.")


# -- not found ------------------------------------------------------------------------


class NetworkNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Network {ident} could not be found.")


class SubnetNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Subnet {ident} could not be found.")


class SubnetPoolNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Subnet pool {ident} could not be found.")


class PortNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Port {ident} could not be found.")


class RouterNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Router {ident} could not be found.")


class FloatingIPNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Floating IP {ident} could not be found.")


class SecurityGroupNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Security group {ident} does not exist.")


class SecurityGroupRuleNotFound(NeutronError, NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Security group rule {ident} does not exist.")


class ExtensionNotFound(NeutronError, NotFound):
    def __init__(self, alias: str) -> None:
        super().__init__(f"Extension with alias {alias} does not exist.")


class TagNotFound(NeutronError, NotFound):
    def __init__(self, tag: str, resource: str, ident: str) -> None:
        super().__init__(f"Tag {tag} could not be found for {resource} {ident}.")


class RouterInterfaceNotFound(NeutronError, NotFound):
    def __init__(self, router_id: str, port_id: str) -> None:
        super().__init__(f"Router {router_id} does not have an interface with id {port_id}.")


class RouterInterfaceNotFoundForSubnet(NeutronError, NotFound):
    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router {router_id} has no interface on subnet {subnet_id}.")


class ExternalGatewayForFloatingIPNotFound(NeutronError, NotFound):
    def __init__(self, network_id: str, subnet_id: str, port_id: str) -> None:
        super().__init__(
            f"External network {network_id} is not reachable from subnet {subnet_id}. "
            f"Therefore, cannot associate Port {port_id} with a Floating IP.")


# -- in use, conflicts (409) -----------------------------------------------------------


class NetworkInUse(NeutronError, Conflict):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Unable to complete operation on network {ident}. There are one "
                         "or more ports still in use on the network.")


class SubnetInUse(NeutronError, Conflict):
    def __init__(self, ident: str, reason: str = "One or more ports have an IP allocation "
                 "from this subnet") -> None:
        super().__init__(f"Unable to complete operation on subnet {ident}: {reason}.")


class SubnetOverlaps(NeutronError, Conflict):
    """A CIDR overlapping another subnet of the same network: 409 (upstream answers
    400 ``InvalidInput`` with this message; the acceptance of the networking issue
    asks for a conflict)."""

    def __init__(self, cidr: str, network_id: str) -> None:
        super().__init__(f"Requested subnet with cidr: {cidr} for network: {network_id} "
                         "overlaps with another subnet.")


class SubnetPoolInUse(NeutronError, Conflict):
    def __init__(self, ident: str, reason: str) -> None:
        super().__init__(f"Unable to complete operation on subnet pool {ident}. {reason}.")


class PortInUse(NeutronError, Conflict):
    def __init__(self, port_id: str, net_id: str, device_id: str) -> None:
        super().__init__(f"Unable to complete operation on port {port_id} for network "
                         f"{net_id}. Port already has an attached device {device_id}.")


class L3PortInUse(NeutronError, Conflict):
    def __init__(self, port_id: str, owner: str) -> None:
        super().__init__(f"Port {port_id} has owner {owner} and therefore cannot be deleted "
                         "directly via the port API.")


class IpAddressAlreadyAllocated(NeutronError, Conflict):
    def __init__(self, ip: str, subnet_id: str) -> None:
        super().__init__(f"IP address {ip} already allocated in subnet {subnet_id}")


class IpAddressInUse(NeutronError, Conflict):
    def __init__(self, net_id: str, ip: str) -> None:
        super().__init__(f"Unable to complete operation for network {net_id}. The IP address "
                         f"{ip} is in use.")


class MacAddressInUse(NeutronError, Conflict):
    def __init__(self, net_id: str, mac: str) -> None:
        super().__init__(f"Unable to complete operation for network {net_id}. The mac "
                         f"address {mac} is in use.")


class IpAddressGenerationFailure(NeutronError, Conflict):
    def __init__(self, net_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {net_id}.")


class GatewayConflictWithAllocationPools(NeutronError, Conflict):
    def __init__(self, ip: str, pool: str) -> None:
        super().__init__(f"Gateway ip {ip} conflicts with allocation pool {pool}.")


class OverlappingAllocationPools(NeutronError, Conflict):
    def __init__(self, pool_1: str, pool_2: str, subnet_cidr: str) -> None:
        super().__init__(f"Found overlapping allocation pools: {pool_1} and {pool_2} for "
                         f"subnet {subnet_cidr}.")


class GatewayIpInUse(NeutronError, Conflict):
    def __init__(self, ip: str, port_id: str) -> None:
        super().__init__(f"Current gateway ip {ip} already in use by port {port_id}. Unable "
                         "to update.")


class RouterInUse(NeutronError, Conflict):
    def __init__(self, router_id: str, reason: str = "still has ports") -> None:
        super().__init__(f"Router {router_id} {reason}")


class RouterInterfaceInUseByFloatingIP(NeutronError, Conflict):
    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router interface for subnet {subnet_id} on router {router_id} "
                         "cannot be deleted, as it is required by one or more floating IPs.")


class RouterInterfaceInUseByRoute(NeutronError, Conflict):
    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router interface for subnet {subnet_id} on router {router_id} "
                         "cannot be deleted, as it is required by one or more routes.")


class RouterExternalGatewayInUseByFloatingIp(NeutronError, Conflict):
    def __init__(self, router_id: str, net_id: str) -> None:
        super().__init__(f"Gateway cannot be updated for router {router_id}, since a gateway "
                         f"to external network {net_id} is required by one or more floating "
                         "IPs.")


class FloatingIPPortAlreadyAssociated(NeutronError, Conflict):
    def __init__(self, port_id: str, fip_id: str, floating_ip: str, fixed_ip: str,
                 net_id: str) -> None:
        super().__init__(f"Cannot associate floating IP {floating_ip} ({fip_id}) with port "
                         f"{port_id} using fixed IP {fixed_ip}, as that fixed IP already has "
                         f"a floating IP on external network {net_id}.")


class SecurityGroupInUse(NeutronError, Conflict):
    def __init__(self, ident: str) -> None:
        super().__init__(f"Security Group {ident} in use.")


class SecurityGroupCannotRemoveDefault(NeutronError, Conflict):
    def __init__(self) -> None:
        super().__init__("Insufficient rights for removing default security group.")


class SecurityGroupCannotUpdateDefault(NeutronError, Conflict):
    def __init__(self) -> None:
        super().__init__("Updating default security group not allowed.")


class SecurityGroupDefaultAlreadyExists(NeutronError, Conflict):
    def __init__(self) -> None:
        super().__init__("Default security group already exists.")


class SecurityGroupRuleExists(NeutronError, Conflict):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class AddressPairAndPortSecurityRequired(NeutronError, Conflict):
    def __init__(self) -> None:
        super().__init__("Port Security must be enabled in order to have allowed address "
                         "pairs on a port.")


class PortSecurityPortHasSecurityGroup(NeutronError, Conflict):
    def __init__(self) -> None:
        super().__init__("Port has security group associated. Cannot disable port security "
                         "or IP address until security group is removed.")


class SubnetAllocationError(NeutronError, Conflict):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Failed to allocate subnet: {reason}.")


# -- invalid values (400) ---------------------------------------------------------------


class InvalidIpForSubnet(NeutronError, BadRequest):
    def __init__(self, ip: str) -> None:
        super().__init__(f"IP address {ip} is not a valid IP for the specified subnet.")


class InvalidIpForNetwork(NeutronError, BadRequest):
    def __init__(self, ip: str) -> None:
        super().__init__(f"IP address {ip} is not a valid IP for any of the subnets on the "
                         "specified network.")


class InvalidAllocationPool(NeutronError, BadRequest):
    def __init__(self, pool: str) -> None:
        super().__init__(f"The allocation pool {pool} is not valid.")


class OutOfBoundsAllocationPool(NeutronError, BadRequest):
    def __init__(self, pool: str, subnet_cidr: str) -> None:
        super().__init__(f"The allocation pool {pool} spans beyond the subnet cidr "
                         f"{subnet_cidr}.")


class DNSNameServersExhausted(NeutronError, BadRequest):
    def __init__(self, subnet_id: str, quota: int) -> None:
        super().__init__(f"Unable to complete operation for {subnet_id}. The number of DNS "
                         f"nameservers exceeds the limit {quota}.")


class HostRoutesExhausted(NeutronError, BadRequest):
    def __init__(self, subnet_id: str, quota: int) -> None:
        super().__init__(f"Unable to complete operation for {subnet_id}. The number of host "
                         f"routes exceeds the limit {quota}.")


class InvalidRoutes(NeutronError, BadRequest):
    def __init__(self, routes: Any, reason: str) -> None:
        super().__init__(f"Invalid format for routes: {routes}, {reason}")


class RoutesExhausted(NeutronError, BadRequest):
    def __init__(self, router_id: str, quota: int) -> None:
        super().__init__(f"Unable to complete operation for {router_id}. The number of "
                         f"routes exceeds the maximum {quota}.")


class AllowedAddressPairExhausted(NeutronError, BadRequest):
    def __init__(self, quota: int) -> None:
        super().__init__(f"The number of allowed address pair exceeds the maximum {quota}.")


class DuplicateAddressPairInRequest(NeutronError, BadRequest):
    def __init__(self, mac: str, ip: str) -> None:
        super().__init__(f"Request contains duplicate address pair: mac_address {mac} "
                         f"ip_address {ip}.")


class PortSecurityAndIPRequiredForSecurityGroups(NeutronError, BadRequest):
    def __init__(self) -> None:
        super().__init__("Port security must be enabled and port must have an IP address in "
                         "order to use security groups.")


class SecurityGroupRuleInvalidProtocol(NeutronError, BadRequest):
    def __init__(self, protocol: Any, allowed: list[str]) -> None:
        super().__init__(f"Security group rule protocol {protocol} not supported. Only "
                         f"protocol values {allowed} and integer representations [0 to 255] "
                         "are supported.")


class SecurityGroupRuleInvalidEtherType(NeutronError, BadRequest):
    def __init__(self, ethertype: Any) -> None:
        super().__init__(f"Security group rule for ethertype '{ethertype}' not supported. "
                         "Allowed values are ['IPv4', 'IPv6'].")


class SecurityGroupInvalidPortRange(NeutronError, BadRequest):
    def __init__(self) -> None:
        super().__init__("For TCP/UDP protocols, port_range_min must be <= port_range_max")


class SecurityGroupInvalidPortValue(NeutronError, BadRequest):
    def __init__(self, port: Any) -> None:
        super().__init__(f"Invalid value for port {port}")


class SecurityGroupInvalidIcmpValue(NeutronError, BadRequest):
    def __init__(self, field: str, attr: str, value: Any) -> None:
        super().__init__(f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to "
                         "255.")


class SecurityGroupMissingIcmpType(NeutronError, BadRequest):
    def __init__(self, value: Any) -> None:
        super().__init__(f"ICMP code (port-range-max) {value} is provided but ICMP type "
                         "(port-range-min) is missing.")


class SecurityGroupProtocolRequiredWithPorts(NeutronError, BadRequest):
    def __init__(self) -> None:
        super().__init__("Must also specify protocol if port range is given.")


class SecurityGroupInvalidProtocolForPortRange(NeutronError, BadRequest):
    def __init__(self, protocol: str) -> None:
        super().__init__(f"Invalid protocol {protocol} for port range, only supported for "
                         "TCP, UDP, UDPLITE, SCTP and DCCP.")


class SecurityGroupRemoteGroupAndRemoteIpPrefix(NeutronError, BadRequest):
    def __init__(self) -> None:
        super().__init__("Only remote_ip_prefix or remote_group_id may be provided.")


class SecurityGroupRuleParameterConflict(NeutronError, BadRequest):
    def __init__(self, ethertype: str, cidr: str) -> None:
        super().__init__(f"Conflicting value ethertype {ethertype} for CIDR {cidr}")


class SecurityGroupEthertypeConflictWithProtocol(NeutronError, BadRequest):
    def __init__(self, ethertype: str, protocol: str) -> None:
        super().__init__(f"Invalid ethertype {ethertype} for protocol {protocol}.")


class IllegalSubnetPoolPrefixBounds(NeutronError, BadRequest):
    def __init__(self, prefix_type: str, prefixlen: int, base_prefix_type: str,
                 base_prefixlen: int) -> None:
        super().__init__(f"Illegal prefix bounds: {prefix_type}={prefixlen}, "
                         f"{base_prefix_type}={base_prefixlen}.")


class PrefixVersionMismatch(NeutronError, BadRequest):
    def __init__(self) -> None:
        super().__init__("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")


class IllegalSubnetPoolUpdate(NeutronError, BadRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Illegal update to subnet pool: {reason}.")


class ExternalIpAddressExhausted(NeutronError, BadRequest):
    def __init__(self, net_id: str) -> None:
        super().__init__(f"Unable to find any IP address on external network {net_id}.")
