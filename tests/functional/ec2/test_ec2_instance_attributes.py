"""DescribeInstanceAttribute and ModifyInstanceAttribute through boto3 (compute's
in-memory hypervisor): each attribute read, the lock as termination protection,
security groups changed through compute, and what cannot change answered as EC2
answers it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.ec2.ec2_server import Ec2Cloud, Ec2Credential

FLAVOR = "m1.nano"
FAST = {"Delay": 1, "MaxAttempts": 120}


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_describe_and_modify_instance_attributes(cloud: Ec2Cloud, demo: Any,
                                                 demo_cred: Ec2Credential, ami: str,
                                                 subnet: str) -> None:
    web = demo.create_security_group(GroupName="attr-web", Description="w")["GroupId"]
    ssh = demo.create_security_group(GroupName="attr-ssh", Description="s")["GroupId"]
    data = b"#!/bin/sh\necho attributes\n"
    (inst,) = demo.run_instances(ImageId=ami, InstanceType=FLAVOR, MinCount=1, MaxCount=1,
                                 SubnetId=subnet, SecurityGroupIds=[web],
                                 UserData=data.decode())["Instances"]
    ident = inst["InstanceId"]
    demo.get_waiter("instance_running").wait(InstanceIds=[ident], WaiterConfig=FAST)

    def attr(name: str) -> dict[str, Any]:
        got = demo.describe_instance_attribute(InstanceId=ident, Attribute=name)
        assert got["InstanceId"] == ident
        return dict(got)

    assert attr("instanceType")["InstanceType"] == {"Value": FLAVOR}
    assert base64.b64decode(attr("userData")["UserData"]["Value"]) == data
    assert attr("rootDeviceName")["RootDeviceName"] == {"Value": "/dev/vda"}
    assert attr("blockDeviceMapping")["BlockDeviceMappings"] == []
    assert attr("disableApiTermination")["DisableApiTermination"] == {"Value": False}
    assert attr("instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"] == {"Value": "stop"}
    assert [g["GroupId"] for g in attr("groupSet")["Groups"]] == [web]
    assert attr("sourceDestCheck")["SourceDestCheck"] == {"Value": True}
    assert attr("kernel")["KernelId"] == {} and attr("ramdisk")["RamdiskId"] == {}
    assert attr("productCodes")["ProductCodes"] == []
    cli = cloud.aws(demo_cred, "describe-instance-attribute", "--instance-id", ident,
                    "--attribute", "instanceType")
    assert cli["InstanceType"] == {"Value": FLAVOR}

    # the lock is termination protection
    demo.modify_instance_attribute(InstanceId=ident, DisableApiTermination={"Value": True})
    assert attr("disableApiTermination")["DisableApiTermination"] == {"Value": True}
    with pytest.raises(ClientError) as err:
        demo.terminate_instances(InstanceIds=[ident])
    assert _code(err) == "OperationNotPermitted"
    demo.modify_instance_attribute(InstanceId=ident, DisableApiTermination={"Value": False})
    assert attr("disableApiTermination")["DisableApiTermination"] == {"Value": False}

    # the security groups, as a whole set, through compute
    demo.modify_instance_attribute(InstanceId=ident, Groups=[ssh])
    assert [g["GroupId"] for g in attr("groupSet")["Groups"]] == [ssh]
    demo.modify_instance_attribute(InstanceId=ident, Groups=[web, ssh])
    assert {g["GroupId"] for g in attr("groupSet")["Groups"]} == {web, ssh}
    with pytest.raises(ClientError) as err:
        demo.modify_instance_attribute(InstanceId=ident, Groups=["sg-0123456789abcdef0"])
    assert _code(err) == "InvalidGroup.NotFound"

    # what EC2 refuses, and what this cloud cannot change
    cases: list[tuple[dict[str, Any], str]] = [
        ({"InstanceType": {"Value": "m9.huge"}}, "InvalidParameterValue"),
        ({"InstanceType": {"Value": "m1.small"}}, "IncorrectInstanceState"),  # running
        ({"InstanceInitiatedShutdownBehavior": {"Value": "terminate"}},
         "UnsupportedOperation"),
        ({"InstanceInitiatedShutdownBehavior": {"Value": "explode"}},
         "InvalidParameterValue"),
        ({"SourceDestCheck": {"Value": False}}, "UnsupportedOperation"),
        ({"Attribute": "instanceType", "Value": "m1.small",
          "DisableApiTermination": {"Value": True}}, "InvalidParameterCombination"),
        ({"Attribute": "nonsense", "Value": "x"}, "InvalidParameterValue"),
    ]
    for args, code in cases:
        with pytest.raises(ClientError) as err:
            demo.modify_instance_attribute(InstanceId=ident, **args)
        assert _code(err) == code, (args, err.value.response)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400 or \
            code == "IncorrectInstanceState"
    demo.modify_instance_attribute(InstanceId=ident,  # what it already is: no change
                                   InstanceInitiatedShutdownBehavior={"Value": "stop"})
    raw = cloud.raw(demo_cred, {"Action": "ModifyInstanceAttribute", "InstanceId": ident})
    assert (raw.status, raw.code) == (400, "MissingParameter")
    with pytest.raises(ClientError) as err:
        demo.describe_instance_attribute(InstanceId=ident, Attribute="colour")
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        demo.describe_instance_attribute(InstanceId="i-0123456789abcdef0",
                                         Attribute="instanceType")
    assert _code(err) == "InvalidInstanceID.NotFound"

    demo.stop_instances(InstanceIds=[ident])
    demo.get_waiter("instance_stopped").wait(InstanceIds=[ident], WaiterConfig=FAST)
    with pytest.raises(ClientError) as err:  # a resize: not offered yet
        demo.modify_instance_attribute(InstanceId=ident, InstanceType={"Value": "m1.small"})
    assert _code(err) == "UnsupportedOperation"
    demo.modify_instance_attribute(InstanceId=ident, InstanceType={"Value": FLAVOR})
    with pytest.raises(ClientError) as err:
        demo.modify_instance_attribute(InstanceId=ident, UserData={"Value": b"new"})
    assert _code(err) == "UnsupportedOperation"
    assert attr("instanceType")["InstanceType"] == {"Value": FLAVOR}

    demo.terminate_instances(InstanceIds=[ident])
    demo.get_waiter("instance_terminated").wait(InstanceIds=[ident], WaiterConfig=FAST)
    demo.delete_security_group(GroupId=web)
    demo.delete_security_group(GroupId=ssh)
