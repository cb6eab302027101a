"""Seeded, time-bounded fuzzing: whatever the inspector accepts, qemu reads the same way.

Valid VMDK descriptors and qcow2 headers are mutated (tokens swapped,
lines split and repeated, keys moved into comments, header fields set to
edge values, bytes flipped). For every mutant the inspector accepts,
``qemu-img info -f <format>`` must read one self-contained image of the
same virtual size: no backing file, no data file, no extent but the file
itself. Each run is reproducible from its seed (printed on failure) and
stops after ``BUDGET`` seconds (``STRATA_FUZZ_SECONDS``, ``STRATA_FUZZ_SEED``
change both).
"""

from __future__ import annotations

import os
import random
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from diskimage.inspector import inspect_file
from tests.imagecorpus import DESC_HEAD, HOST_FILE, VMDK_HEADER, qemu_img, qemu_info

# Seconds per seed image and the seed: longer or other runs by the environment.
BUDGET = float(os.environ.get("STRATA_FUZZ_SECONDS", "8"))
SEED = int(os.environ.get("STRATA_FUZZ_SEED", "15"))


def self_contained(path: Path, driver: str, virtual_size: int | None) -> str | None:
    """Why qemu does not read ``path`` as one self-contained image; None when it does."""
    info, _ = qemu_info(path, driver)
    if info is None:
        # qemu refuses to open it: nothing is read through it (and the service's
        # cross-check, diskimage.safety, refuses the upload for that reason)
        return None
    if info.get("backing-filename") or info.get("full-backing-filename"):
        return f"backing file {info.get('backing-filename')}"
    specific = info.get("format-specific")
    data = specific.get("data", {}) if isinstance(specific, dict) else {}
    assert isinstance(data, dict)
    if data.get("data-file"):
        return f"data file {data['data-file']}"
    extents = [str(Path(str(e.get("filename"))).resolve()) for e in data.get("extents", [])]
    if extents and extents != [str(path.resolve())]:
        return f"extents {extents}"
    if info.get("virtual-size") != virtual_size:
        return f"virtual size {info.get('virtual-size')} (inspector: {virtual_size})"
    return None


def fuzz(tmp_path: Path, name: str, driver: str, fmt: str, seed_image: bytes,
         mutate: Callable[[random.Random, bytes], bytes]) -> tuple[int, int]:
    """Mutants tried and mutants the inspector accepted, within ``BUDGET`` seconds."""
    rng = random.Random(f"{SEED}-{name}")
    path = tmp_path / f"fuzz-{name}"
    tried = accepted = 0
    deadline = time.monotonic() + BUDGET
    while time.monotonic() < deadline:
        case = rng.getrandbits(32)
        data = mutate(random.Random(case), seed_image)
        path.write_bytes(data)
        tried += 1
        inspection = inspect_file(path, fmt, "bare")
        if not inspection.safe:
            continue
        accepted += 1
        why = self_contained(path, driver, inspection.virtual_size)
        assert why is None, f"{name} case {case}: the inspector accepted what qemu reads " \
                            f"with {why}"
    return tried, accepted


# -- VMDK descriptors -------------------------------------------------------------------

PIECES = [
    '# createType="monolithicFlat"', 'createType="monolithicFlat"',
    'createType="monolithicSparse"', 'createType="streamOptimized"',
    f'parentFileNameHint="{HOST_FILE}"', "RW 2048 SPARSE \"fuzz-vmdk\"", "RW 8 FLAT",
    f'"{HOST_FILE}" 0', "RDONLY 2048 SPARSE \"fuzz-vmdk\"", "NOACCESS 8 FLAT", "RW 0 SPARSE",
    "wronly 2048 SPARSE \"fuzz-vmdk\"", "RW\n2048\nSPARSE", "", "#", "#DDB", "version=1",
    'ddb.adapterType = "ide"', "parentCID=12345678", "CID=ffffffff", '"', "\t", "RW",
    f'RW 8 FLAT "{HOST_FILE}" 0', 'RW 2048 VMFS "fuzz-vmdk"',
]


def mutate_descriptor(rng: random.Random, image: bytes) -> bytes:
    data = bytearray(image)
    offset, size = (v * 512 for v in struct.unpack_from("<QQ", data, 28))
    lines = bytes(data[offset : offset + size]).split(b"\x00", 1)[0].decode().split("\n")
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(lines) + 1)
        op = rng.randrange(7)
        if op == 0:
            lines.insert(at, rng.choice(PIECES))
        elif op == 1 and lines:
            del lines[min(at, len(lines) - 1)]
        elif op == 2 and lines:
            lines.insert(at, lines[rng.randrange(len(lines))])
        elif op == 3 and lines:
            i = min(at, len(lines) - 1)
            words = lines[i].split(" ")
            words[rng.randrange(len(words))] = rng.choice(
                ["RW", "RDONLY", "0", "1", "2048", "FLAT", "SPARSE", "\n", '"x"', "#", ""])
            lines[i] = " ".join(words)
        elif op == 4 and lines:
            i = min(at, len(lines) - 1)
            lines[i] = "#" + lines[i]
        elif op == 5 and lines:
            i = min(at, len(lines) - 1)
            cut = rng.randrange(len(lines[i]) + 1)
            lines[i : i + 1] = [lines[i][:cut], lines[i][cut:]]
        else:
            h = list(struct.unpack_from(VMDK_HEADER, data))
            field = rng.choice([1, 3, 3, 4, 5])  # version, capacity, grain, descriptor offset
            h[field] = rng.choice([0, 1, 2, 3, 5, 8, 2048, 1 << 40]) % (
                1 << 32 if field == 1 else 1 << 64)
            struct.pack_into(VMDK_HEADER, data, 0, *h)
    text = "\n".join(lines).encode()[: size - 1]
    data[offset : offset + size] = text.ljust(size, b"\x00")
    return bytes(data)


# -- qcow2 headers ----------------------------------------------------------------------

QCOW2_FIELDS = [  # (offset, struct format) of every header field up to header_length
    (4, ">I"), (8, ">Q"), (16, ">I"), (20, ">I"), (24, ">Q"), (32, ">I"), (36, ">I"),
    (40, ">Q"), (48, ">Q"), (56, ">I"), (60, ">I"), (64, ">Q"), (72, ">Q"), (80, ">Q"),
    (88, ">Q"), (96, ">I"), (100, ">I"),
]
EDGES = [0, 1, 2, 3, 8, 9, 16, 21, 22, 72, 104, 512, 65536, 1 << 20, 1 << 31, 1 << 32,
         1 << 40, 1 << 62, (1 << 64) - 1]


def mutate_qcow2(rng: random.Random, image: bytes) -> bytes:
    data = bytearray(image)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        if op <= 1:
            offset, fmt = rng.choice(QCOW2_FIELDS)
            limit = 1 << (8 * struct.calcsize(fmt))
            struct.pack_into(fmt, data, offset, rng.choice(EDGES) % limit)
        elif op == 2:
            data[rng.randrange(512)] ^= 1 << rng.randrange(8)
        else:  # a header extension: a backing format, a data file name, an unknown one
            etype = rng.choice([0xE2792ACA, 0x44415441, 0x6803F857, 0x12345678])
            body = rng.choice([b"raw", HOST_FILE.encode(), b"x" * 40])
            at = struct.unpack_from(">I", data, 100)[0] or 104
            ext = struct.pack(">II", etype, len(body)) + body.ljust((len(body) + 7) // 8 * 8,
                                                                   b"\x00")
            data[at : at + len(ext) + 8] = ext + bytes(8)
    return bytes(data)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("fuzz-seeds")
    raw = d / "seed.raw"
    raw.write_bytes(random.Random(SEED).randbytes(256 * 1024).ljust(1 << 20, b"\x00"))
    out = {}
    for name, driver, opts in (("vmdk", "vmdk", []), ("vmdk-stream", "vmdk",
                                                       ["-o", "subformat=streamOptimized"]),
                               ("qcow2", "qcow2", []), ("qcow2-v2", "qcow2",
                                                        ["-o", "compat=0.10"])):
        path = d / name
        qemu_img("convert", "-f", "raw", "-O", driver, *opts, raw, path)
        out[name] = path.read_bytes()
    # the descriptor's own extent names the fuzzed file, as it would after an upload
    for name in ("vmdk", "vmdk-stream"):
        out[name] = out[name].replace(f'"{name}"'.encode(), b'"fuzz-vmdk"')
    assert DESC_HEAD  # the corpus's descriptor head is what the pieces above extend
    return out


@pytest.mark.parametrize("name", ["vmdk", "vmdk-stream"])
def test_accepted_vmdk_descriptors_read_the_same_in_qemu(seeds: dict[str, bytes],
                                                         tmp_path: Path, name: str) -> None:
    tried, accepted = fuzz(tmp_path, "vmdk", "vmdk", "vmdk", seeds[name], mutate_descriptor)
    print(f"{name}: {tried} mutants, {accepted} accepted")
    assert tried > 50 and accepted > 0  # the fuzzer reached both sides of the inspector


@pytest.mark.parametrize("name", ["qcow2", "qcow2-v2"])
def test_accepted_qcow2_headers_read_the_same_in_qemu(seeds: dict[str, bytes],
                                                      tmp_path: Path, name: str) -> None:
    tried, accepted = fuzz(tmp_path, name, "qcow2", "qcow2", seeds[name], mutate_qcow2)
    print(f"{name}: {tried} mutants, {accepted} accepted")
    assert tried > 50 and accepted > 0
