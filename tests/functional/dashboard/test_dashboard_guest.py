"""A real guest launched from the dashboard: a private cloud whose compute drives the
system libvirtd (QEMU TCG) and whose networking service runs its data path, the tiny
image launched as demo through the Launch Instance form with a customization script
and a config drive, seen ACTIVE, and its console log tab showing the script's output
(the tiny guest runs its user data at boot and reports on its serial console). The
rest of the compute pages run on the in-memory hypervisor in
``test_dashboard_compute.py``; a machine that cannot run guests skips this module with
the reason (under CI it fails)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.functional.compute.compute_server import compute_cloud, require_guests
from tests.functional.dashboard.browser import (
    accept_dialogs,
    check_page,
    flash,
    login,
    new_context,
)
from tests.functional.dashboard.dash_cloud import DashCloud
from tests.functional.dashboard.instances import detail_of, launch, row

SCRIPT = "#!/bin/sh\necho hello-from-the-dashboard $(hostname)\n"
BOOT = 420.0  # s: a TCG guest on a loaded two-core machine, with room to spare


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    require_guests()
    with compute_cloud(tmp_path_factory, STRATA_NETWORK_DATAPLANE="true",
                       STRATA_DASHBOARD_ENABLED="true") as c:
        c.upload_tiny()
        yield DashCloud(c.env)


def test_a_guest_runs_its_customization_script(cloud: DashCloud, browser: Browser) -> None:
    # (the cloud first: its checks run asyncio, which Playwright's loop would stop)
    base = cloud.dashboard_url
    ctx = new_context(browser)
    page = ctx.new_page()
    accept_dialogs(page)
    login(page, base, "demo", cloud.password("demo"))
    started = time.monotonic()
    launch(page, base, "guest1", script=SCRIPT)
    assert "Instance guest1 is being launched." in flash(page)
    row(page, "guest1").locator(".status", has_text="ACTIVE").wait_for(
        timeout=BOOT * 1000)
    here = detail_of(page, base, "guest1")
    log = ""
    while "user_data exit" not in log:
        assert time.monotonic() - started < BOOT, f"the script did not run:\n{log[-3000:]}"
        time.sleep(2)
        page.goto(here + "?tab=log")
        log = page.locator("#console-log").inner_text()
    print(f"guest1: launched to its script's end in {time.monotonic() - started:.0f} s")
    assert "hello-from-the-dashboard guest1" in log and "user_data exit 0" in log, log
    assert "STRATA-TINY: config drive" in log
    check_page(page, "project-instance-log-real-guest")
    page.goto(here)
    page.click("button:has-text('Delete Instance')")
    assert "The instance is being deleted." in flash(page)
    ctx.close()
