"""What the tests of the dashboard's compute pages share: launching an instance through
the Launch Instance form, finding its row and page, waiting for a page to show
something."""

from __future__ import annotations

import time

from playwright.sync_api import Locator, Page

NANO = "m1.nano"  # the flavor the tiny guest fits


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
