"""A VMDK descriptor read two ways: by a strict grammar, and as qemu reads it.

qemu does not parse a descriptor line by line. Learnt by probing
``qemu-img info`` (7.2) with crafted descriptors:

- keys are found by substring search over the whole text: the first
  ``createType`` wins even inside a comment, and any ``parentFileNameHint``
  anywhere (a comment, another key's value) names a backing file;
- an extent is read at every line start by one scanf-like pattern (access
  word, sectors, type, quoted file name, optional offset) in which any
  whitespace, newlines included, separates fields: an extent may span lines,
  and an empty line before an extent makes qemu read it twice;
- extents whose access is not ``RW``, whose size is zero or whose type is
  unknown are skipped silently; so is a line with an unknown access word;
- in a sparse VMDK, the descriptor qemu searches for a parent is the text at
  byte 512 (up to 10240 bytes, to the first NUL), whatever the header says.

``parse`` accepts only a descriptor in which the strict reading and qemu's
reading (``qemu_extents``) cannot differ: lines of a known shape, one
``createType``, no parent, one ``RW`` SPARSE extent that is the file itself,
and nothing qemu would read as another extent. Anything else is a problem.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

QEMU_DESCRIPTOR_OFFSET = 512  # where qemu reads a sparse VMDK's descriptor for a parent
QEMU_DESCRIPTOR_READ = 10240  # how much it reads there
QEMU_EXTENT_TYPES = ("FLAT", "SPARSE", "VMFS", "VMFSSPARSE")
ALLOWED_VMDK_CREATE_TYPES = ("monolithicSparse", "streamOptimized")
_KNOWN_KEYS = ("version", "encoding", "CID", "parentCID", "createType", "isNativeSnapshot")
_PRINTABLE = frozenset(string.printable) - frozenset("\r\x0b\x0c")
_WS = " \t\n\r\x0b\x0c"  # what C's isspace() (and so scanf) skips

_KEY_VALUE = re.compile(r'([A-Za-z][A-Za-z0-9_.]*)[ \t]*=[ \t]*(?:"([^"]*)"|([^"\s]*))[ \t]*')
_EXTENT = re.compile(r'(\S+)[ \t]+(\S+)[ \t]+(\S+)(?:[ \t]+"([^"]*)"(?:[ \t]+(\S+))?)?[ \t]*')


@dataclass(frozen=True)
class Extent:
    access: str
    sectors: int
    kind: str
    name: str
    offset: int | None = None


@dataclass
class Descriptor:
    """What the strict grammar read; ``problems`` is empty when qemu cannot read it otherwise."""

    create_type: str | None = None
    extents: list[Extent] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# -- qemu's reading -----------------------------------------------------------


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _word(text: str, pos: int, width: int) -> tuple[str, int]:
    """scanf ``%<width>s``: up to ``width`` non-space characters after any whitespace."""
    pos = _skip_ws(text, pos)
    end = pos
    while end < len(text) and end - pos < width and text[end] not in _WS:
        end += 1
    return text[pos:end], end


def _number(text: str, pos: int) -> tuple[int | None, int]:
    """scanf ``%lld``: optional sign and decimal digits after any whitespace."""
    pos = _skip_ws(text, pos)
    end = pos
    if end < len(text) and text[end] in "+-":
        end += 1
    digits = end
    while end < len(text) and text[end].isdigit() and text[end].isascii():
        end += 1
    if end == digits:
        return None, pos
    return int(text[pos:end]), end


def _scan_extent(text: str, pos: int) -> tuple[int, list[str | int]]:
    """The fields qemu's extent pattern assigns at ``pos``: (count, values)."""
    values: list[str | int] = []
    access, pos = _word(text, pos, 10)
    if not access:
        return 0, values
    values.append(access)
    sectors, pos = _number(text, pos)
    if sectors is None:
        return 1, values
    values.append(sectors)
    kind, pos = _word(text, pos, 10)
    if not kind:
        return 2, values
    values.append(kind)
    pos = _skip_ws(text, pos)
    if pos >= len(text) or text[pos] != '"':
        return 3, values
    pos += 1
    end = pos
    while end < len(text) and end - pos < 511 and text[end] not in '\n\r"':
        end += 1
    if end == pos:
        return 3, values
    values.append(text[pos:end])
    if end >= len(text) or text[end] != '"':
        return 4, values
    offset, _ = _number(text, end + 1)
    if offset is None:
        return 4, values
    values.append(offset)
    return 5, values


def qemu_extents(text: str) -> tuple[list[Extent], list[str]]:
    """The extents qemu opens from a descriptor file, and the errors qemu would raise."""
    extents: list[Extent] = []
    errors: list[str] = []
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n" and i + 1 < len(text)]
    for start in starts:
        count, v = _scan_extent(text, start)
        if count < 4 or v[0] != "RW":
            continue
        access, sectors, kind, name = str(v[0]), int(v[1]), str(v[2]), str(v[3])
        offset = int(v[4]) if count == 5 else None
        if kind == "FLAT" and (offset is None or offset < 0):
            errors.append("a FLAT extent without an offset")
            continue
        if kind not in ("FLAT", "VMFS") and count != 4:
            errors.append(f"an extent of type {kind} with an offset")
            continue
        if sectors <= 0 or kind not in QEMU_EXTENT_TYPES:
            continue
        extents.append(Extent(access, sectors, kind, name, offset))
    return extents, errors


def qemu_create_type(text: str) -> str | None:
    """The createType qemu finds: the quoted value after the first occurrence of the key."""
    at = text.find("createType")
    if at < 0:
        return None
    quote = text.find('"', at)
    if quote < 0:
        return None
    end = text.find('"', quote + 1)
    return text[quote + 1 : end] if end >= 0 else None


# -- the strict grammar --------------------------------------------------------


def _line_problem(number: int, line: str, d: Descriptor) -> str | None:
    """Read one line into ``d``; a problem when the grammar does not know it."""
    if not line or line.startswith("#"):
        return None
    kv = _KEY_VALUE.fullmatch(line)
    if kv:
        key, value = kv.group(1), kv.group(2) if kv.group(2) is not None else kv.group(3)
        if key not in _KNOWN_KEYS and not key.startswith("ddb."):
            return f"line {number} of the VMDK descriptor sets an unknown key {key!r}"
        if key in d.keys:
            return f"the VMDK descriptor sets {key!r} twice"
        d.keys[key] = value
        return None
    ext = _EXTENT.fullmatch(line)
    if ext is None:
        return f"line {number} of the VMDK descriptor is not descriptor syntax: {line[:60]!r}"
    access, sectors, kind, name, offset = ext.groups()
    if access not in ("RW", "RDONLY", "NOACCESS"):
        return f"the VMDK descriptor names an extent with an unknown access word {access!r}"
    if not sectors.isdigit() or not sectors.isascii():
        return f"the VMDK descriptor names an extent of {sectors!r} sectors"
    if name is None:
        return f"the VMDK descriptor names a {kind} extent without a file name"
    d.extents.append(Extent(access, int(sectors), kind, name,
                            int(offset) if offset and offset.isdigit() else None))
    if offset is not None and not offset.isdigit():
        return f"the VMDK descriptor names an extent offset {offset!r}"
    return None


def parse(text: str) -> Descriptor:
    """Read ``text`` strictly; see the module docstring for what is a problem."""
    d = Descriptor()
    if any(ch not in _PRINTABLE for ch in text):
        d.problems.append("the VMDK descriptor holds characters other than printable ASCII")
        return d
    for number, line in enumerate(text.split("\n"), 1):
        problem = _line_problem(number, line.strip(" \t"), d)
        if problem:
            d.problems.append(problem)
    d.create_type = d.keys.get("createType")
    if text.count("createType") > 1:
        d.problems.append("the VMDK descriptor names createType more than once "
                          "(qemu takes the first, wherever it is)")
    elif d.create_type is not None and qemu_create_type(text) != d.create_type:
        d.problems.append("qemu would read another createType from the VMDK descriptor")
    if "parentFileNameHint" in text or d.keys.get("parentCID", "ffffffff").lower() != "ffffffff":
        d.problems.append("the VMDK descriptor names a parent disk (a backing file)")
    return d


def check_self_contained(d: Descriptor, text: str, capacity: int) -> None:
    """Add a problem unless ``d`` has one RW SPARSE extent, the file itself, as qemu reads it."""
    for e in d.extents:
        if e.access != "RW":
            d.problems.append(f"the VMDK descriptor names a {e.access} extent, which qemu "
                              "skips; only one RW SPARSE extent is allowed")
        if e.kind != "SPARSE":
            d.problems.append(f"the VMDK descriptor names a {e.kind} extent; "
                              "only SPARSE is allowed")
        if e.sectors == 0:
            d.problems.append("the VMDK descriptor names an extent of 0 sectors, which qemu skips")
        elif e.sectors != capacity:
            d.problems.append(f"the VMDK descriptor's extent has {e.sectors} sectors but the "
                              f"header {capacity}")
        if e.offset is not None:
            d.problems.append("the VMDK descriptor gives its SPARSE extent an offset")
        if not e.name or "/" in e.name or "\\" in e.name or e.name in (".", ".."):
            d.problems.append(f"the VMDK descriptor names the extent file {e.name!r}, "
                              "not the image itself")
    if len(d.extents) != 1:
        d.problems.append(f"the VMDK descriptor lists {len(d.extents)} extents; one is allowed")
        return
    seen, errors = qemu_extents(text)
    if errors or seen != d.extents:
        d.problems.append("qemu would read the VMDK descriptor's extents differently "
                          f"({len(seen)} extent(s){': ' + errors[0] if errors else ''})")


def parse_embedded(text: str, capacity: int) -> Descriptor:
    """``parse`` and ``check_self_contained`` for a sparse VMDK's embedded descriptor."""
    d = parse(text)
    check_self_contained(d, text, capacity)
    d.problems = list(dict.fromkeys(d.problems))
    return d
