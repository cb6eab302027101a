"""Start-up of the compute service: for now, the hypervisor check and a health check.

The Nova API is not built yet. This placeholder shows how the service starts: it
connects to libvirtd (starting it when it can, see :mod:`compute.host`), chooses
KVM or QEMU TCG with the driver's probe, logs the host, and answers
``/healthcheck``. When libvirt cannot run it exits with status 2 and a message
saying why.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from common import config as config_mod
from common.http import healthcheck, run_service, serve_app, setup_logging
from compute.errors import HypervisorUnavailable, InvalidSpec
from compute.host import ensure_libvirtd
from compute.virt.libvirt import LibvirtDriver

log = logging.getLogger("compute")


async def open_driver(cfg: config_mod.StrataConfig) -> LibvirtDriver:
    c = cfg.compute
    why = await asyncio.to_thread(ensure_libvirtd, c.libvirt_uri)
    if why:
        raise HypervisorUnavailable(f"libvirt cannot run here: {why}")
    return await LibvirtDriver.open(uri=c.libvirt_uri, name_prefix=c.domain_prefix,
                                    virt_type=c.virt_type, instances_dir=cfg.instances_path,
                                    dac_label="+0:+0" if c.qemu_as_root else "")


async def serve(cfg: config_mod.StrataConfig) -> int:
    try:
        driver = await open_driver(cfg)
    except (HypervisorUnavailable, InvalidSpec) as exc:
        log.error("compute cannot start: %s", exc.message)
        return 2
    try:
        host = await driver.host_info()
        log.info("hypervisor %s %d (%s) on %s: %d vCPUs, %d MiB", host.hypervisor_type,
                 host.hypervisor_version, host.virt_type, host.hostname, host.vcpus,
                 host.memory_mib)
        app = web.Application()
        app.router.add_get("/healthcheck", healthcheck)
        await serve_app(app, cfg.compute.host, cfg.compute.port, "compute service")
    finally:
        await driver.close()
    return 0


def main() -> None:
    cfg = config_mod.load()
    setup_logging(cfg.log_level, "compute")
    sys.exit(run_service(serve(cfg)))
