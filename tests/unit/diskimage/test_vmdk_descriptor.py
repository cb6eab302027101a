"""diskimage.formats.vmdk_descriptor: its reading of qemu's rules, checked against qemu-img.

Each descriptor is put into a sparse VMDK whose capacity is 0, which makes
qemu open it as a descriptor file; ``qemu_extents`` and ``qemu_create_type``
must name the extents and create type ``qemu-img info`` reports. The strict
parser must accept qemu's own descriptors and refuse every text the two
could read differently.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from diskimage.formats.vmdk_descriptor import parse, parse_embedded, qemu_create_type, qemu_extents
from tests.imagecorpus import DESC_HEAD, QEMU_IMG, qemu_img, set_vmdk_descriptor

HOST = "/etc/hostname"
CASES = {
    "one line": 'createType="monolithicFlat"\nRW 8 FLAT "{h}" 0\n',
    "across lines": 'createType="monolithicFlat"\nRW\n8\nFLAT\n"{h}"\n0\n',
    "blank line before": 'createType="monolithicFlat"\n\nRW 8 FLAT "{h}" 0\n',
    "blank lines before": 'createType="monolithicFlat"\n\n\nRW 8 FLAT "{h}" 0\n',
    "skipped access words": 'createType="monolithicFlat"\nRDONLY 8 FLAT "{h}" 0\n'
                            'NOACCESS 8 FLAT "{h}" 0\nwronly 8 FLAT "{h}" 0\nRW 16 FLAT "{h}" 0\n',
    "zero and unknown types": 'createType="monolithicFlat"\nRW 0 FLAT "{h}" 0\n'
                              'RW 8 ZERO "{h}"\nRW 24 FLAT "{h}" 0\n',
    "createType in a comment": '# createType="vmfs"\ncreateType="monolithicFlat"\n'
                               'RW 8 FLAT "{h}" 0\n',
    "tabs and spaces": 'createType="monolithicFlat"\n  RW\t8  FLAT \t"{h}"   0\n',
    "leading space": 'createType="monolithicFlat"\n RW 8 FLAT "{h}" 0\n',
}


def qemu_reading(tmp_path: Path, text: str) -> tuple[list[tuple[str, int]], str | None]:
    base = tmp_path / "base.vmdk"
    if not base.exists():
        qemu_img("create", "-q", "-f", "vmdk", base, "1M")
    data = bytearray(base.read_bytes())
    set_vmdk_descriptor(data, text, capacity=0)
    path = tmp_path / "probe.vmdk"
    path.write_bytes(bytes(data))
    r = subprocess.run([QEMU_IMG, "info", "--output=json", "-f", "vmdk", str(path)],
                       capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        return [], None
    spec = json.loads(r.stdout)["format-specific"]["data"]
    return ([(e["filename"], e["virtual-size"] // 512) for e in spec["extents"]],
            spec["create-type"])


@pytest.mark.parametrize("case", list(CASES))
def test_emulation_matches_qemu(tmp_path: Path, case: str) -> None:
    text = DESC_HEAD + CASES[case].format(h=HOST)
    extents, create_type = qemu_reading(tmp_path, text)
    emulated, errors = qemu_extents(text)
    assert not errors
    assert [(e.name, e.sectors) for e in emulated] == extents, case
    if extents:
        assert qemu_create_type(text) == create_type


def test_qemus_own_descriptors_parse(tmp_path: Path) -> None:
    for opts in ([], ["-o", "subformat=streamOptimized"]):
        path = tmp_path / "own.vmdk"
        qemu_img("create", "-q", "-f", "vmdk", *opts, path, "3000000001")
        raw = path.read_bytes()[512 : 512 + 20 * 512].split(b"\x00", 1)[0].decode()
        d = parse_embedded(raw, 5859376)
        assert d.problems == [] and len(d.extents) == 1
        assert d.create_type in ("monolithicSparse", "streamOptimized")


@pytest.mark.parametrize("line, reason", [
    ('RW 2048 SPARSE "self.vmdk"\nRW 2048 SPARSE "self.vmdk"', "lists 2 extents"),
    ('\nRW 2048 SPARSE "self.vmdk"', "differently"),
    ('RW 2048\nSPARSE "self.vmdk"', "not descriptor syntax"),
    ('RDONLY 2048 SPARSE "self.vmdk"', "RDONLY extent"),
    ('NOACCESS 2048 SPARSE "self.vmdk"', "NOACCESS extent"),
    ('wronly 2048 SPARSE "self.vmdk"', "unknown access word"),
    ('RW 0 SPARSE "self.vmdk"', "0 sectors"),
    ('RW 2048 SPARSE "self.vmdk" 0', "offset"),
    ('RW 2048 FLAT "self.vmdk" 0', "FLAT extent"),
    ('RW 2048 SPARSE "../x.vmdk"', "not the image itself"),
    ('RW 1024 SPARSE "self.vmdk"', "header 2048"),
    ('RW 2048 SPARSE "self.vmdk"\n# createType="monolithicFlat"', "more than once"),
    ('RW 2048 SPARSE "self.vmdk"\nfoo.bar = "1"', "unknown key"),
    ('RW 2048 SPARSE "self.vmdk"\nCID=1', "twice"),
    ('RW 2048 SPARSE "self.vmdk"\n#parentFileNameHint', "parent"),
    ('RW 2048 SPARSE "self.vmdk"\nddb.comment = "caf\xe9"', "printable ASCII"),
    ('RW 2048 SPARSE "self.vmdk"\r', "printable ASCII"),
])
def test_strict_grammar_refuses(line: str, reason: str) -> None:
    text = DESC_HEAD + 'createType="monolithicSparse"\n' + line + "\n"
    d = parse_embedded(text, 2048)
    assert any(reason in p for p in d.problems), d.problems


def test_a_clean_descriptor_is_accepted() -> None:
    text = (DESC_HEAD + 'createType="monolithicSparse"\n\n# Extent description\n'
            'RW 2048 SPARSE "self.vmdk"\n\n# The Disk Data Base\n#DDB\n\n'
            'ddb.virtualHWVersion = "4"\nddb.uuid.image = "6f1a-..."\n')
    d = parse_embedded(text, 2048)
    assert d.problems == [] and d.create_type == "monolithicSparse"
    assert parse(text).keys["ddb.virtualHWVersion"] == "4"
