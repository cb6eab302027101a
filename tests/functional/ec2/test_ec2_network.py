"""Security groups, addresses, VPCs, subnets, network interfaces and tags through boto3,
seen natively (``openstack security group rule list``, ``floating ip show``...) and the
other way round."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential, native_ids

ICMP_AND_SSH = [
    {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
]


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def _native_rules(cloud: Ec2Cloud, group_uuid: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = cloud.osc("demo", "security", "group", "rule", "list",
                                            group_uuid, "--long")
    return rules


def _uuid_of(cloud: Ec2Cloud, kind: str, ident: str, candidates: list[str]) -> str:
    (uuid,) = [u for u, e in native_ids(cloud, kind, candidates).items() if e == ident]
    return uuid


def test_a_security_group_with_icmp_and_ssh(cloud: Ec2Cloud, demo: Any) -> None:
    gid = demo.create_security_group(GroupName="web", Description="ICMP and SSH")["GroupId"]
    demo.authorize_security_group_ingress(GroupId=gid, IpPermissions=ICMP_AND_SSH)
    (group,) = demo.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    assert group["GroupName"] == "web" and group["Description"] == "ICMP and SSH"
    perms = {(p["IpProtocol"], p.get("FromPort"), p.get("ToPort")): p
             for p in group["IpPermissions"]}
    assert set(perms) == {("icmp", -1, -1), ("tcp", 22, 22)}
    assert perms["tcp", 22, 22]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    assert {p["IpProtocol"] for p in group["IpPermissionsEgress"]} == {"-1"}
    natives = {g["ID"]: g for g in cloud.osc("demo", "security", "group", "list")}
    uuid = _uuid_of(cloud, "security_group", gid, list(natives))
    assert natives[uuid]["Name"] == "web"
    rules = [r for r in _native_rules(cloud, uuid) if r["Direction"] == "ingress"]
    assert {(r["IP Protocol"], r["Port Range"]) for r in rules} == {("icmp", ""),
                                                                     ("tcp", "22:22")}
    # the same rules again: a duplicate, and nothing is added (not even the new one)
    with pytest.raises(ClientError) as err:
        demo.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
            *ICMP_AND_SSH, {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
                            "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert _code(err) == "InvalidPermission.Duplicate"
    assert len([r for r in _native_rules(cloud, uuid) if r["Direction"] == "ingress"]) == 2
    found = demo.describe_security_groups(Filters=[
        {"Name": "ip-permission.from-port", "Values": ["22"]},
        {"Name": "ip-permission.protocol", "Values": ["tcp"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in found] == [gid]
    demo.revoke_security_group_ingress(GroupId=gid, IpPermissions=ICMP_AND_SSH[1:])
    assert {(r["IP Protocol"]) for r in _native_rules(cloud, uuid)
            if r["Direction"] == "ingress"} == {"icmp"}
    with pytest.raises(ClientError) as err:
        demo.revoke_security_group_ingress(GroupId=gid, IpPermissions=ICMP_AND_SSH[1:])
    assert _code(err) == "InvalidPermission.NotFound"
    # egress, and a rule from another group
    demo.authorize_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}])
    demo.authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535,
         "UserIdGroupPairs": [{"GroupId": gid}]}])
    (group,) = demo.describe_security_groups(GroupNames=["web"])["SecurityGroups"]
    (https,) = [p for p in group["IpPermissionsEgress"] if p["IpProtocol"] == "tcp"]
    assert https["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32"}]
    (own,) = [p for p in group["IpPermissions"] if p["IpProtocol"] == "tcp"]
    assert (own["FromPort"], own["ToPort"]) == (0, 65535)
    assert [pair["GroupId"] for pair in own["UserIdGroupPairs"]] == [gid]
    demo.revoke_security_group_egress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}]}])
    assert "tcp" not in {r["IP Protocol"] for r in _native_rules(cloud, uuid)
                         if r["Direction"] == "egress"}
    with pytest.raises(ClientError) as err:
        demo.create_security_group(GroupName="web", Description="again")
    assert _code(err) == "InvalidGroup.Duplicate"
    (default,) = demo.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    with pytest.raises(ClientError) as err:
        demo.delete_security_group(GroupId=default["GroupId"])
    assert _code(err) == "CannotDelete"
    demo.delete_security_group(GroupId=gid)
    assert uuid not in {g["ID"] for g in cloud.osc("demo", "security", "group", "list")}
    with pytest.raises(ClientError) as err:
        demo.describe_security_groups(GroupNames=["web"])
    assert _code(err) == "InvalidGroup.NotFound"


def test_a_native_group_is_described(cloud: Ec2Cloud, demo: Any) -> None:
    native = cloud.osc("demo", "security", "group", "create", "made-natively")
    cloud.osc("demo", "security", "group", "rule", "create", "--protocol", "tcp",
              "--dst-port", "80:81", "--remote-ip", "192.0.2.0/24", native["id"])
    gid = native_ids(cloud, "security_group", [native["id"]])[native["id"]]
    (group,) = demo.describe_security_groups(GroupIds=[gid])["SecurityGroups"]
    (perm,) = group["IpPermissions"]
    assert (perm["IpProtocol"], perm["FromPort"], perm["ToPort"]) == ("tcp", 80, 81)
    assert perm["IpRanges"] == [{"CidrIp": "192.0.2.0/24"}]
    demo.delete_security_group(GroupName="made-natively")


def test_addresses_on_a_network_interface(cloud: Ec2Cloud, demo: Any) -> None:
    (subnet,) = demo.describe_subnets(Filters=[{"Name": "cidr-block",
                                                "Values": ["10.0.0.0/26"]}])["Subnets"]
    eni = demo.create_network_interface(SubnetId=subnet["SubnetId"], Description="for ip")[
        "NetworkInterface"]
    assert eni["Status"] == "available" and eni["VpcId"] == subnet["VpcId"]
    private = eni["PrivateIpAddress"]
    assert private.startswith("10.0.0.")
    alloc = demo.allocate_address(Domain="vpc")
    assert alloc["Domain"] == "vpc" and alloc["PublicIp"].startswith("172.24.4.")
    assert alloc["AllocationId"].startswith("eipalloc-")
    assoc = demo.associate_address(AllocationId=alloc["AllocationId"],
                                   NetworkInterfaceId=eni["NetworkInterfaceId"])["AssociationId"]
    (addr,) = demo.describe_addresses(AllocationIds=[alloc["AllocationId"]])["Addresses"]
    assert addr["AssociationId"] == assoc and addr["PrivateIpAddress"] == private
    assert addr["NetworkInterfaceId"] == eni["NetworkInterfaceId"]
    assert addr["PublicIp"] == alloc["PublicIp"] and "InstanceId" not in addr
    native = cloud.osc("demo", "floating", "ip", "show", alloc["PublicIp"])
    assert native["fixed_ip_address"] == private and native["port_id"]
    assert native_ids(cloud, "network_interface", [native["port_id"]])[
        native["port_id"]] == eni["NetworkInterfaceId"]
    (iface,) = demo.describe_network_interfaces(NetworkInterfaceIds=[
        eni["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert iface["Association"]["PublicIp"] == alloc["PublicIp"]
    assert iface["Association"]["AssociationId"] == assoc
    found = demo.describe_addresses(Filters=[{"Name": "private-ip-address",
                                              "Values": [private]}])["Addresses"]
    assert [a["AllocationId"] for a in found] == [alloc["AllocationId"]]
    with pytest.raises(ClientError) as err:
        demo.release_address(AllocationId=alloc["AllocationId"])
    assert _code(err) == "InvalidIPAddress.InUse"
    demo.disassociate_address(AssociationId=assoc)
    (addr,) = demo.describe_addresses(PublicIps=[alloc["PublicIp"]])["Addresses"]
    assert "AssociationId" not in addr and "NetworkInterfaceId" not in addr
    with pytest.raises(ClientError) as err:
        demo.disassociate_address(AssociationId=assoc)
    assert _code(err) == "InvalidAssociationID.NotFound"
    again = demo.associate_address(PublicIp=alloc["PublicIp"],
                                   NetworkInterfaceId=eni["NetworkInterfaceId"])
    assert again["AssociationId"] != assoc  # a new association, a new id
    demo.disassociate_address(PublicIp=alloc["PublicIp"])
    demo.release_address(AllocationId=alloc["AllocationId"])
    assert demo.describe_addresses()["Addresses"] == []
    with pytest.raises(ClientError) as err:
        demo.delete_network_interface(NetworkInterfaceId="eni-0123456789abcdef0")
    assert _code(err) == "InvalidNetworkInterfaceID.NotFound"
    demo.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])


def test_vpcs_and_subnets_are_the_projects_networks(cloud: Ec2Cloud, demo: Any,
                                                     third: Any) -> None:
    (vpc,) = demo.describe_vpcs()["Vpcs"]
    assert vpc["CidrBlock"] == "10.0.0.0/26" and vpc["State"] == "available"
    private = cloud.osc("demo", "network", "show", "private")
    assert native_ids(cloud, "vpc", [private["id"]])[private["id"]] == vpc["VpcId"]
    assert third.describe_vpcs()["Vpcs"] == []  # the demo network is not shared
    net = cloud.osc("demo", "network", "create", "net-ec2")
    cloud.osc("demo", "subnet", "create", "--network", "net-ec2", "--subnet-range",
              "192.168.77.0/24", "sub-ec2")
    vpcs = demo.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["192.168.77.0/24"]}])
    (made,) = vpcs["Vpcs"]
    assert made["VpcId"] == native_ids(cloud, "vpc", [net["id"]])[net["id"]]
    (sub,) = demo.describe_subnets(Filters=[{"Name": "vpc-id",
                                             "Values": [made["VpcId"]]}])["Subnets"]
    assert sub["CidrBlock"] == "192.168.77.0/24" and sub["AvailabilityZone"] == "nova"
    assert sub["AvailableIpAddressCount"] == 252  # .2-.254, less the DHCP port's address
    assert cloud.osc_plain("demo", "subnet", "delete", "sub-ec2").returncode == 0
    assert cloud.osc_plain("demo", "network", "delete", "net-ec2").returncode == 0
    assert demo.describe_vpcs(Filters=[{"Name": "cidr", "Values": [
        "192.168.77.0/24"]}])["Vpcs"] == []
    with pytest.raises(ClientError) as err:
        demo.describe_vpcs(VpcIds=[made["VpcId"]])
    assert _code(err) == "InvalidVpcID.NotFound"


def test_tags_and_filters_on_every_kind(cloud: Ec2Cloud, demo: Any, third: Any,
                                         demo_cred: Ec2Credential) -> None:
    gid = demo.create_security_group(GroupName="tagged", Description="t")["GroupId"]
    vid = demo.create_volume(Size=1, AvailabilityZone="nova")["VolumeId"]
    alloc = demo.allocate_address()["AllocationId"]
    vpc = demo.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = demo.describe_subnets()["Subnets"][0]["SubnetId"]
    resources = [gid, vid, alloc, vpc, subnet]
    demo.create_tags(Resources=resources, Tags=[{"Key": "env", "Value": "test"},
                                                {"Key": "Name", "Value": "x"}])
    tags = demo.describe_tags(Filters=[{"Name": "key", "Values": ["env"]}])["Tags"]
    assert {(t["ResourceId"], t["ResourceType"]) for t in tags} == {
        (gid, "security-group"), (vid, "volume"), (alloc, "elastic-ip"), (vpc, "vpc"),
        (subnet, "subnet")}
    pages = list(demo.get_paginator("describe_tags").paginate(
        PaginationConfig={"PageSize": 5}))
    assert [len(p["Tags"]) for p in pages] == [5, 5]
    assert demo.describe_volumes(Filters=[{"Name": "tag:env", "Values": ["test"]}])[
        "Volumes"][0]["VolumeId"] == vid
    assert [g["GroupId"] for g in demo.describe_security_groups(Filters=[
        {"Name": "tag-key", "Values": ["env"]}])["SecurityGroups"]] == [gid]
    assert demo.describe_addresses(Filters=[{"Name": "tag:Name", "Values": ["x"]}])[
        "Addresses"][0]["AllocationId"] == alloc
    # another project neither sees these tags nor may tag these resources
    assert third.describe_tags()["Tags"] == []
    with pytest.raises(ClientError) as err:
        third.create_tags(Resources=[vid], Tags=[{"Key": "mine", "Value": "no"}])
    assert _code(err) == "InvalidVolume.NotFound"
    with pytest.raises(ClientError) as err:
        demo.create_tags(Resources=[vid, "vol-0123456789abcdef0"],
                         Tags=[{"Key": "half", "Value": "made"}])
    assert _code(err) == "InvalidVolume.NotFound"
    assert demo.describe_tags(Filters=[{"Name": "key", "Values": ["half"]}])["Tags"] == []
    with pytest.raises(ClientError) as err:
        demo.create_tags(Resources=["bogus-123"], Tags=[{"Key": "a", "Value": "b"}])
    assert _code(err) == "InvalidID"
    demo.delete_tags(Resources=[vid], Tags=[{"Key": "env", "Value": "other"}])
    assert len(demo.describe_tags(Filters=[{"Name": "resource-id", "Values": [vid]}])[
        "Tags"]) == 2
    demo.delete_tags(Resources=[vid], Tags=[{"Key": "env"}])
    left = cloud.aws(demo_cred, "describe-tags", "--filters", f"Name=resource-id,Values={vid}")
    assert [t["Key"] for t in left["Tags"]] == ["Name"]
    demo.delete_tags(Resources=resources)
    assert demo.describe_tags()["Tags"] == []
    demo.get_waiter("volume_available").wait(VolumeIds=[vid], WaiterConfig={"Delay": 1})
    demo.delete_volume(VolumeId=vid)
    demo.release_address(AllocationId=alloc)
    demo.delete_security_group(GroupId=gid)


def test_an_address_on_an_instance(cloud: Ec2Cloud, demo: Any) -> None:
    """AssociateAddress by InstanceId picks the server's port: a port bound to a server
    as compute binds one (device owner ``compute:nova``, device id the server's)."""
    server = str(uuid.uuid4())
    port = cloud.osc("demo", "port", "create", "--network", "private", "--device", server,
                     "--device-owner", "compute:nova", "vm-port")
    instance = native_ids(cloud, "instance", [server])[server]
    assert instance.startswith("i-")
    alloc = demo.allocate_address(Domain="vpc")
    try:
        assoc = demo.associate_address(AllocationId=alloc["AllocationId"],
                                       InstanceId=instance)["AssociationId"]
        (addr,) = demo.describe_addresses(Filters=[{"Name": "instance-id",
                                                    "Values": [instance]}])["Addresses"]
        assert addr["InstanceId"] == instance and addr["AssociationId"] == assoc
        assert addr["PrivateIpAddress"] == port["fixed_ips"][0]["ip_address"]
        assert cloud.osc("demo", "floating", "ip", "show", alloc["PublicIp"])[
            "port_id"] == port["id"]
        with pytest.raises(ClientError) as err:
            demo.associate_address(AllocationId=alloc["AllocationId"], InstanceId=instance,
                                   NetworkInterfaceId="eni-0123456789abcdef0")
        assert _code(err) == "InvalidParameterCombination"
        demo.disassociate_address(AssociationId=assoc)
        with pytest.raises(ClientError) as err:  # an instance id that names nothing
            demo.associate_address(AllocationId=alloc["AllocationId"],
                                   InstanceId="i-0123456789abcdef0")
        assert _code(err) == "InvalidInstanceID.NotFound"
    finally:
        demo.release_address(AllocationId=alloc["AllocationId"])
        assert cloud.osc_plain("demo", "port", "delete", port["id"]).returncode == 0
