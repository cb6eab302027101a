"""The Query API's parameters parsed into a tree, and read with types."""

from __future__ import annotations

import pytest

from ec2.errors import InvalidParameterValue, MissingParameter
from ec2.params import Params


def parse(**pairs: str) -> Params:
    return Params.parse([(k.replace("__", "."), v) for k, v in pairs.items()])


def test_lists_and_structures_come_in_index_order() -> None:
    p = Params.parse([("VolumeId.10", "c"), ("VolumeId.2", "b"), ("VolumeId.1", "a"),
                      ("Filter.1.Name", "status"), ("Filter.1.Value.2", "y"),
                      ("Filter.1.Value.1", "x"), ("Filter.2.Name", "size"),
                      ("Filter.2.Value.1", "1"),
                      ("BlockDeviceMapping.1.Ebs.SnapshotId", "snap-1")])
    assert p.strings("VolumeId") == ["a", "b", "c"]
    assert [(f.text("Name"), f.strings("Value")) for f in p.structs("Filter")] == [
        ("status", ["x", "y"]), ("size", ["1"])]
    (bdm,) = p.structs("BlockDeviceMapping")
    ebs = bdm.child("Ebs")
    assert ebs is not None and ebs.text("SnapshotId") == "snap-1"
    assert ebs.path == "BlockDeviceMapping.1.Ebs"
    assert p.strings("Nothing") == [] and p.structs("Nothing") == []


def test_a_single_value_counts_as_a_list_of_one() -> None:
    assert parse(InstanceId="i-1").strings("InstanceId") == ["i-1"]


def test_typed_reads_check_what_they_read() -> None:
    p = parse(Size="8", Bad="x", Flag="TRUE", Off="false", Name="abc")
    assert p.integer("Size", low=1, high=16384) == 8
    assert p.boolean("Flag") is True and p.boolean("Off") is False
    assert p.boolean("Missing", True) is True
    assert p.required("Name") == "abc"
    with pytest.raises(InvalidParameterValue, match="Bad"):
        p.integer("Bad")
    with pytest.raises(InvalidParameterValue, match="between 10 and 20"):
        p.integer("Size", low=10, high=20)
    with pytest.raises(InvalidParameterValue):
        p.boolean("Name")
    with pytest.raises(MissingParameter, match="VolumeId") as err:
        p.required("VolumeId")
    assert err.value.code == "MissingParameter" and err.value.status == 400
    with pytest.raises(InvalidParameterValue, match="longer than 2"):
        p.text("Name", max_len=2)
    with pytest.raises(InvalidParameterValue, match="Valid values: x, y"):
        p.text("Name", choices=("x", "y"))


def test_missing_names_its_full_dotted_path() -> None:
    p = Params.parse([("TagSpecification.1.Tag.1.Value", "v")])
    (spec,) = p.structs("TagSpecification")
    (tag,) = spec.structs("Tag")
    with pytest.raises(MissingParameter, match=r"TagSpecification\.1\.Tag\.1\.Key"):
        tag.required("Key")


@pytest.mark.parametrize("name", ["", ".a", "a.", "a..b", ".".join("a" * 9)])
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterValue):
        Params.parse([(name, "x")])


@pytest.mark.parametrize("index", ["0", "x", "-1", "100001"])
def test_list_members_are_numbered_from_one(index: str) -> None:
    p = Params.parse([(f"VolumeId.{index}", "v")])
    with pytest.raises(InvalidParameterValue, match="numbered from 1"):
        p.strings("VolumeId")
