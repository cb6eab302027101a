"""Every sample of the image corpus against the inspector and qemu-img.

Valid images of every format pass ``verify_file`` (inspector, then qemu-img
cross-checked); every hostile one is refused, and each is shown to be a
real attack: qemu (or libblkid) reads its bytes as something other than one
self-contained disk of the declared format.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diskimage.errors import ImageRejected, UnsafeImage
from diskimage.inspector import ImageInspector, inspect_file
from diskimage.safety import cross_check, verify_file
from tests.imagecorpus import HOSTILE, VALID, Sample, build, qemu_info, witness

DRIVERS = {"raw": "raw", "iso": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vhd": "vpc",
           "vhdx": "vhdx", "vdi": "vdi"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    return build(tmp_path_factory.mktemp("corpus"))


def streamed(sample: Sample, piece: int = 7919) -> ImageInspector:
    inspector = ImageInspector(sample.disk_format, "bare")
    data = sample.path.read_bytes()
    for at in range(0, len(data), piece):
        inspector.feed(data[at : at + piece])
    return inspector


@pytest.mark.parametrize("name", VALID)
async def test_valid_image_is_accepted_by_inspector_and_qemu(corpus: dict[str, Sample],
                                                             name: str) -> None:
    sample = corpus[name]
    checked = await verify_file(sample.path, sample.disk_format, "bare")
    info, _ = qemu_info(sample.path, DRIVERS[sample.disk_format])
    assert info is not None and checked.virtual_size == info["virtual-size"]
    assert streamed(sample).verify().virtual_size == info["virtual-size"]
    assert witness(sample) is None


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_image_is_refused_with_a_reason(corpus: dict[str, Sample],
                                                      name: str) -> None:
    sample = corpus[name]
    with pytest.raises(ImageRejected) as streaming:
        streamed(sample).verify()
    assert streaming.value.reasons and "image rejected" in streaming.value.message
    with pytest.raises(ImageRejected):
        await verify_file(sample.path, sample.disk_format, "bare")


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_image_is_a_real_attack(corpus: dict[str, Sample], name: str) -> None:
    """What qemu would have done with the refused bytes (see tests/imagecorpus.py)."""
    reason = witness(corpus[name])
    assert reason, f"{name}: qemu reads it as a plain self-contained disk"


async def test_qemu_is_asked_even_when_the_inspector_is_satisfied(
        corpus: dict[str, Sample]) -> None:
    """Defence in depth: were the inspector fooled, qemu-img's own reading refuses."""
    clean = inspect_file(corpus["vmdk-sparse"].path, "vmdk", "bare")
    assert clean.safe
    for hostile, why in (("vmdk-parent-in-comment", "backing file"),
                         ("vmdk-capacity-zero", "createType"),
                         ("qcow2-v3", "cannot read the image as vmdk")):
        with pytest.raises(UnsafeImage, match=why):
            await cross_check(corpus[hostile].path, clean)
    raw = inspect_file(corpus["raw"].path, "raw", "bare")
    with pytest.raises(UnsafeImage, match="virtual size"):
        await cross_check(corpus["raw-gpt"].path.with_name("udf.iso"), raw)


async def test_archive_containers_are_not_read_by_qemu(corpus: dict[str, Sample],
                                                       tmp_path: Path) -> None:
    inspection = inspect_file(corpus["raw"].path, "raw", "ova")
    assert await cross_check(corpus["raw"].path, inspection, container_format="ova") is None
