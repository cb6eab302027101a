"""Every service runs with glibc's allocator set for streaming
(common.allocator.tune_allocator, called by common.http.run_service): memory a
burst of body chunks freed is reused by the next burst, not given back to the
kernel and faulted in again page by page. Checked in child processes, so this
test's own interpreter keeps its defaults."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a proxy does to its heap while it streams a large object: a burst of
# 256 KiB chunks (a segment read ahead) held at once, then all freed.
CHURN = """
import json, resource

def churn(rounds):
    for _ in range(rounds):
        held = [bytes(256 << 10) for _ in range(16)]
        del held

def faults_per_burst():
    churn(3)  # the heap grows to its working size once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    churn(30)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 30
"""

AS_SERVICE = CHURN + """
from common.http import run_service

async def main():
    return faults_per_burst()

print(json.dumps(run_service(main())))
"""

PLAIN = CHURN + """
print(json.dumps(faults_per_burst()))
"""


def child(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return float(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc",
                    reason="the allocator settings are glibc's (mallopt); other C "
                           "libraries keep their own behaviour")
def test_services_reuse_freed_chunk_memory_instead_of_faulting_it_back() -> None:
    # the premise: with glibc's defaults each burst gives its 4 MiB back to the
    # kernel when freed and takes it again, a fault per page
    assert child(PLAIN) > 256
    # a service keeps it: the bursts after the first cost no faults
    assert child(AS_SERVICE) < 8


def test_tune_allocator_reports_what_it_did() -> None:
    code = "from common.allocator import tune_allocator; print(tune_allocator())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                         capture_output=True, text=True, timeout=60).stdout.strip()
    assert out == str(platform.libc_ver()[0] == "glibc")
