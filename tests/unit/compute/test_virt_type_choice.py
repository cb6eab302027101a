"""Which domain type and CPU mode the libvirt driver picks from its two KVM probes."""

from __future__ import annotations

import pytest

from compute.errors import HypervisorUnavailable
from compute.virt.kvmprobe import ProbeResult
from compute.virt.libvirt import choose_virt_type

PASS = ProbeResult(True, 0.1, "")
HUNG = ProbeResult(False, 5.0, "a kvm guest did not finish the probe within 5s")
MSR = ProbeResult(False, 0.03, "the kvm probe exited with status -6: kvm_buf_set_msrs")


def test_a_real_kvm_host_gets_kvm_with_the_hosts_cpu() -> None:
    for virt_type in ("auto", "kvm"):
        domain, cpu, message = choose_virt_type(virt_type, PASS, PASS)
        assert (domain, cpu) == ("kvm", "host-passthrough")
        assert "host's CPU" in message


def test_auto_does_not_trust_kvm_that_cannot_run_the_hosts_cpu() -> None:
    """Seen on CI: the default model passed the probe, the host's aborted in QEMU,
    and a real guest under KVM then printed nothing for 120 s."""
    domain, cpu, message = choose_virt_type("auto", PASS, MSR)
    assert (domain, cpu) == ("qemu", "")
    assert "not the host's" in message and "kvm_buf_set_msrs" in message
    assert "TCG" in message


def test_kvm_as_configured_keeps_the_default_model() -> None:
    domain, cpu, message = choose_virt_type("kvm", PASS, MSR)
    assert (domain, cpu) == ("kvm", "")
    assert "default CPU model" in message and "kvm_buf_set_msrs" in message


def test_kvm_that_hangs_is_tcg_for_auto_and_an_error_for_kvm() -> None:
    domain, cpu, message = choose_virt_type("auto", HUNG, HUNG)
    assert (domain, cpu) == ("qemu", "")
    assert "did not finish the probe" in message
    with pytest.raises(HypervisorUnavailable, match="did not finish the probe"):
        choose_virt_type("kvm", HUNG, HUNG)


def test_qemu_as_configured() -> None:
    assert choose_virt_type("qemu", PASS, PASS)[:2] == ("qemu", "")
