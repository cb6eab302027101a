"""What the tests of the dashboard's compute pages share: a private cloud whose compute
runs the in-memory hypervisor, launching an instance through the Launch Instance
form, finding its row and page, waiting for a page to show something."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page

from tests.functional.compute.compute_server import compute_cloud
from tests.functional.dashboard.dash_cloud import DashCloud

NANO = "m1.nano"  # the flavor the tiny guest fits
BOOTED = 120_000  # ms: an instance on the memory hypervisor is ACTIVE within seconds


@contextlib.contextmanager
def memory_cloud(tmp: pytest.TempPathFactory) -> Iterator[DashCloud]:
    """A private cloud with its dashboard, compute on the in-memory hypervisor (every
    API rule, ports, floating IPs and volume attachments for real, in seconds; no
    guest runs) and the tiny image."""
    with compute_cloud(tmp, STRATA_COMPUTE_VIRT_DRIVER="memory",
                       STRATA_DASHBOARD_ENABLED="true") as c:
        c.upload_tiny()
        yield DashCloud(c.env)


def row(page: Page, name: str) -> Locator:
    return page.locator("#instances-table tbody tr", has_text=name)


def until(page: Page, url: str, selector: str, text: str, within: float = 60.0) -> None:
    """Reload ``url`` until ``selector`` holds ``text``."""
    deadline = time.monotonic() + within
    while True:
        page.goto(url)
        got = page.locator(selector).inner_text()
        if text in got:
            return
        assert time.monotonic() < deadline, f"{text!r} not in {selector} of {url}: {got}"
        time.sleep(1)


def launch(page: Page, base: str, name: str, *, script: str = "", key: str = "") -> None:
    """Fill and send the Launch Instance form: the tiny image, m1.nano, the project's
    network and default group (both preselected)."""
    page.goto(base + "/project/instances/")
    page.click("a.button:has-text('Launch Instance')")
    page.fill("#f-name", name)
    page.select_option("#f-image_id", label="tiny (ami)")
    page.select_option("#f-flavor", label=page.locator("#f-flavor option", has_text=NANO)
                       .first.inner_text())
    if key:
        page.select_option("#f-key_name", key)
    if script:
        page.fill("#f-user_data", script)
        page.check("#f-config_drive")
    page.click("#launch button[type=submit]")


def detail_of(page: Page, base: str, name: str) -> str:
    page.goto(base + "/project/instances/")
    row(page, name).locator("a", has_text=name).click()
    return page.url
