"""Start-up of the compute service: the hypervisor check, then the API, the conductor,
this host's agent and the metadata service in one process.

When this host's agent runs (``[compute] agent``, the default) the virt driver is
opened first: libvirtd is started when it can be (:mod:`compute.host`), and KVM or
QEMU TCG chosen by the driver's probe. When libvirt cannot run here the service exits
with status 2 and a message saying why, before it answers anything; ``strata up``
then shows compute DOWN with that reason and runs the rest of the cloud.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from common import config as config_mod
from common.http import run_service, serve_app, setup_logging
from compute.api import build_app
from compute.errors import HypervisorUnavailable, InvalidSpec
from compute.host import ensure_libvirtd
from compute.virt.driver import VirtDriver
from compute.virt.libvirt import LibvirtDriver
from compute.virt.memory import MemoryDriver

log = logging.getLogger("compute")


async def open_driver(cfg: config_mod.StrataConfig) -> VirtDriver:
    c = cfg.compute
    if c.virt_driver == "memory":
        return MemoryDriver(cfg.domain_prefix())
    why = await asyncio.to_thread(ensure_libvirtd, c.libvirt_uri)
    if why:
        raise HypervisorUnavailable(f"libvirt cannot run here: {why}")
    return await LibvirtDriver.open(uri=c.libvirt_uri, name_prefix=cfg.domain_prefix(),
                                    virt_type=c.virt_type, instances_dir=cfg.instances_path,
                                    dac_label="+0:+0" if c.qemu_as_root else "",
                                    probe_timeout=c.kvm_probe_timeout)


async def serve(cfg: config_mod.StrataConfig) -> int:
    driver: VirtDriver | None = None
    if cfg.compute.agent:
        try:
            driver = await open_driver(cfg)
        except (HypervisorUnavailable, InvalidSpec) as exc:
            log.error("compute cannot start: %s", exc.message)
            return 2
        host = await driver.host_info()
        log.info("hypervisor %s %d (%s) on %s: %d vCPUs, %d MiB", host.hypervisor_type,
                 host.hypervisor_version, host.virt_type, host.hostname, host.vcpus,
                 host.memory_mib)
    try:
        await serve_app(build_app(cfg, driver), cfg.compute.host, cfg.compute.port,
                        "compute service")
    finally:
        if driver is not None:
            await driver.close()
    return 0


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "compute")
    sys.exit(run_service(serve(cfg)))
