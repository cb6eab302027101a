"""``python -m compute``: the compute service starts on a host where libvirt runs,
and refuses to start, saying why, where it cannot run guests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port


def service_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    env.update({"STRATA_HOME": str(tmp_path), "STRATA_COMPUTE_ENABLED": "true",
                "STRATA_COMPUTE_PORT": str(free_port()), "STRATA_COMPUTE_VIRT_TYPE": "qemu",
                "STRATA_COMPUTE_METADATA_PORT": str(free_port()),
                "STRATA_COMPUTE_CONSOLE_PORT": str(free_port()),
                **settings})
    return env


@pytest.fixture
def service(tmp_path: Path, libvirt_ready: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = service_env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "compute"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc, f"http://127.0.0.1:{env['STRATA_COMPUTE_PORT']}"
    finally:
        proc.terminate()
        proc.wait(20)


def test_it_starts_and_answers_health(service: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = service
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if requests.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("compute never answered /healthcheck")


def test_it_refuses_a_host_without_qemu(tmp_path: Path) -> None:
    # libvirt's test driver answers, but offers no QEMU guests: like a host without QEMU.
    env = service_env(tmp_path, STRATA_COMPUTE_LIBVIRT_URI="test:///default")
    r = subprocess.run([sys.executable, "-m", "compute"], env=env, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert "compute cannot start: libvirtd offers no x86_64 QEMU guests" in r.stderr + r.stdout
