"""The instance actions that make images or change an instance's size and place, and
its console, end to end in headless Chromium on a private cloud whose compute runs
the in-memory hypervisor (its disks are real files, so snapshots are real images):
as demo, Create Snapshot makes an image seen active on the Images page; Resize
Instance to m1.micro, then Revert (m1.nano again) and again, then Confirm
(m1.micro kept); Shelve, then Unshelve to ACTIVE; the Console tab frames compute's
noVNC URL (a console proxy's one-time token) and lets the page frame only it. The
API's refusals reach the page (a resize to the flavor it has, a snapshot without a
name), and a reader gets no console (compute's policy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from tests.functional.dashboard.browser import check_page, flash, login, new_context, open_box
from tests.functional.dashboard.dash_cloud import DashCloud
from tests.functional.dashboard.instances import (
    BOOTED,
    detail_of,
    launch,
    memory_cloud,
    row,
    until,
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    with memory_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def demo(demo: Page, cloud: DashCloud) -> Page:
    login(demo, cloud.dashboard_url, "demo", cloud.password("demo"))
    launch(demo, cloud.dashboard_url, "life1")
    row(demo, "life1").locator(".status", has_text="ACTIVE").wait_for(timeout=BOOTED)
    return demo


def post_form(page: Page, url: str, **fields: str) -> None:
    """Send a form the page does not offer (as a forged request would), with the
    session's CSRF token; then show where it led."""
    token = page.get_attribute("input[name=csrf_token]", "value") or ""
    r = page.request.post(url, form={"csrf_token": token, **fields}, max_redirects=0)
    assert r.status == 303, r.status
    parts = urlsplit(url)
    page.goto(f"{parts.scheme}://{parts.netloc}{r.headers['location']}")


def test_create_snapshot_makes_an_image(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "life1")
    open_box(demo, "Create Snapshot")
    assert demo.input_value("#snapshot-name") == "life1-snapshot"
    demo.fill("#snapshot-name", "life1-snap")
    check_page(demo, "project-instance-snapshot")
    demo.click("#snapshot button[type=submit]")
    assert "Snapshot life1-snap is being created." in flash(demo)
    assert demo.url == base + "/project/images/"
    # the Images list refreshes itself while the snapshot is queued and saved
    line = demo.locator("#images-table tbody tr").filter(
        has=demo.get_by_role("link", name="life1-snap", exact=True))
    line.locator(".status", has_text="active").wait_for(timeout=90_000)
    check_page(demo, "project-images-snapshot")
    # a name is required (the form says so too): the page says why
    demo.goto(here)
    post_form(demo, here + "/snapshot", name=" ")
    assert "Snapshot name is required." in flash(demo)
    assert demo.url == here


def test_resize_then_revert_then_confirm(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "life1")

    def resize_to_micro() -> None:
        open_box(demo, "Resize Instance")
        assert demo.locator("#resize-flavor option", has_text="m1.nano").count() == 0
        demo.select_option("#resize-flavor", label=demo.locator(
            "#resize-flavor option", has_text="m1.micro").inner_text())
        demo.click("#resize button[type=submit]")
        assert "The instance is being resized" in flash(demo)
        until(demo, here, "dl.props", "VERIFY_RESIZE", within=90)
        assert "m1.micro" in demo.locator("dl.props").inner_text()

    resize_to_micro()
    check_page(demo, "project-instance-verify-resize")
    demo.click("button:has-text('Revert Resize/Migrate')")
    assert "The instance is going back to its flavor." in flash(demo)
    until(demo, here, "dl.props", "ACTIVE", within=90)
    assert "Flavor\nm1.nano" in demo.locator("dl.props").inner_text()

    resize_to_micro()
    demo.click("button:has-text('Confirm Resize/Migrate')")
    assert "The instance keeps its new flavor." in flash(demo)
    until(demo, here, "dl.props", "ACTIVE", within=90)
    assert "Flavor\nm1.micro" in demo.locator("dl.props").inner_text()
    assert demo.locator("button", has_text="Confirm Resize/Migrate").count() == 0
    # compute refuses a resize to the flavor it has, and the page shows its words
    post_form(demo, here + "/resize", flavor="84", next=urlsplit(here).path)
    assert re.search(r"must change flavor.*\(HTTP 400\)", flash(demo)), flash(demo)


def test_shelve_and_unshelve(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "life1")
    demo.click("button:has-text('Shelve Instance')")
    assert "The instance is being shelved." in flash(demo)
    until(demo, here, "dl.props", "SHELVED", within=90)
    until(demo, here, "dl.props", "Task\nNone", within=90)
    assert demo.get_by_role("button", name="Shelve Instance", exact=True).count() == 0
    check_page(demo, "project-instance-shelved")
    demo.goto(base + "/project/instances/")
    assert "SHELVED" in row(demo, "life1").inner_text()
    here = detail_of(demo, base, "life1")
    demo.click("button:has-text('Unshelve Instance')")
    assert "The instance is being unshelved." in flash(demo)
    until(demo, here, "dl.props", "ACTIVE", within=90)
    assert demo.locator("button", has_text="Unshelve Instance").count() == 0


def test_the_console_tab_frames_the_novnc_console(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "life1")
    answer = demo.goto(here + "?tab=console")
    assert answer is not None and answer.ok
    frame = demo.locator("#console-frame")
    src = frame.get_attribute("src") or ""
    assert re.search(r"/vnc_lite\.html\?path=%3Ftoken%3D[\w-]+$", src), src
    assert demo.get_attribute("#console-only", "href") == src
    proxy = urlsplit(src)
    # the dashboard's pages frame nothing else, and this one only the console proxy
    policy = answer.headers["content-security-policy"]
    assert policy.endswith(f"; frame-src {proxy.scheme}://{proxy.netloc}"), policy
    assert "frame-ancestors 'none'" in policy
    # the frame shows what the console proxy serves there: noVNC's page, or (where
    # Debian's novnc is not installed) its own words naming noVNC
    content = demo.frame_locator("#console-frame").locator("body")
    content.wait_for(timeout=30_000)
    assert "noVNC" in (content.inner_text() + (demo.frames[-1].title() or ""))
    check_page(demo, "project-instance-console")
    # each visit asks compute for a new one-time URL
    demo.goto(here + "?tab=console")
    assert demo.locator("#console-frame").get_attribute("src") != src


def test_a_reader_gets_no_console(browser: Browser, cloud: DashCloud, demo: Page) -> None:
    cloud.add_user("rhea", "rhea-password", "demo", "reader")
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "rhea", "rhea-password", path="/project/instances/")
    here = detail_of(page, cloud.dashboard_url, "life1")
    assert page.locator("summary", has_text="Create Snapshot").count() == 0
    assert page.locator("summary", has_text="Resize Instance").count() == 0
    page.goto(here + "?tab=console")
    assert "(HTTP 403)" in flash(page)
    assert page.locator("#console-frame").count() == 0
    ctx.close()
