"""The dashboard's usage summaries end to end in headless Chromium, on a private cloud
whose compute runs the in-memory hypervisor: as demo, two instances launched (one
named with HTML) are in Project > Overview's usage table and totals for this
month, not for a past period; a date that is not one and a period compute refuses
show their messages; the CSV summary downloads with each instance; a member is
refused the admin summary. As admin, Admin > Overview has the demo project's line
and its CSV summary."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.functional.dashboard.browser import check_page, flash, login, new_context, no_xss
from tests.functional.dashboard.dash_cloud import DashCloud
from tests.functional.dashboard.instances import BOOTED, launch, memory_cloud, row

XSS = "<script>window.xss=7</script>html-name"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    with memory_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def demo(demo: Page, cloud: DashCloud) -> Page:
    login(demo, cloud.dashboard_url, "demo", cloud.password("demo"))
    for name in ("used1", XSS):
        launch(demo, cloud.dashboard_url, name)
        assert f"Instance {name} is being launched." in flash(demo)
    for name in ("used1", XSS):
        row(demo, name).locator(".status", has_text="ACTIVE").wait_for(timeout=BOOTED)
    return demo


def usage_row(page: Page, name: str) -> str:
    return page.locator("#usage-table tbody tr", has_text=name).inner_text()


def test_this_month_s_usage_has_each_instance_and_the_totals(demo: Page,
                                                             cloud: DashCloud) -> None:
    demo.goto(cloud.dashboard_url + "/project/")
    today = datetime.now(UTC).date()
    assert demo.input_value("#usage-start") == today.replace(day=1).isoformat()
    assert demo.input_value("#usage-end") == today.isoformat()
    totals = demo.locator("#usage-totals").inner_text()
    assert "Active instances\n2" in totals, totals
    assert "Active RAM\n256.0 MiB" in totals, totals
    assert "MB-hours" in totals
    line = usage_row(demo, "used1").split("\t")
    # name, vCPUs, disk, RAM (m1.nano), time since created
    assert [c.strip() for c in line[:4]] == ["used1", "1", "1 GB", "128.0 MiB"], line
    assert line[4].strip() in ("just now", "1 minute", "2 minutes"), line
    assert XSS in usage_row(demo, "window.xss")
    no_xss(demo)
    check_page(demo, "project-overview-usage")


def test_a_past_period_has_no_instances(demo: Page, cloud: DashCloud) -> None:
    demo.goto(cloud.dashboard_url + "/project/")
    demo.fill("#usage-start", "2020-01-01")
    demo.fill("#usage-end", "2020-01-31")
    demo.click("#usage-period button[type=submit]")
    assert demo.url.endswith("/project/?start=2020-01-01&end=2020-01-31")
    assert "Active instances\n0" in demo.locator("#usage-totals").inner_text()
    assert "No instances in this period." in demo.locator("#usage-table").inner_text()
    assert "2020-01-01 to 2020-01-31" in demo.locator("#usage-table caption").inner_text()
    # the quota charts are still there
    assert demo.locator("figure.chart", has_text="Instances").count() >= 1


def test_bad_periods_say_why(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/?start=soon&end=2026-01-01")
    assert "From must be a date (YYYY-MM-DD), not 'soon'." in \
        demo.locator("#usage-error").inner_text()
    assert demo.locator("#usage-table").count() == 0
    assert demo.input_value("#usage-end") == "2026-01-01"
    # a start after the end is compute's to refuse, in its words
    demo.goto(base + "/project/?start=2026-02-01&end=2026-01-01")
    error = demo.locator("#usage-error").inner_text()
    assert "start time cannot occur after the end time" in error and "(HTTP 400)" in error
    check_page(demo, "project-overview-usage-error")
    r = demo.context.request.get(base + "/project/usage.csv?start=2026-13-01")
    assert r.status == 400 and "From must be a date" in r.text()


def test_the_csv_summary_downloads_with_each_instance(demo: Page, cloud: DashCloud) -> None:
    demo.goto(cloud.dashboard_url + "/project/")
    with demo.expect_download() as dl:
        demo.click("#usage-csv")
    today = datetime.now(UTC).date()
    assert dl.value.suggested_filename == \
        f"demo-usage-{today.replace(day=1).isoformat()}-{today.isoformat()}.csv"
    path = dl.value.path()
    got = list(csv.reader(io.StringIO(path.read_text())))
    assert got[1] == ["Project", "demo"]
    assert ["Active instances", "2"] in got
    names = [r[0] for r in got[got.index(next(r for r in got if r and r[0] ==
                                              "Instance name")) + 1:]]
    assert sorted(names) == sorted(["used1", XSS])
    assert next(r for r in got if r and r[0] == "used1")[1:4] == ["1", "128", "1"]


def test_a_member_is_refused_the_admin_summary(demo_ctx: BrowserContext,
                                               cloud: DashCloud) -> None:
    r = demo_ctx.request.get(cloud.dashboard_url + "/admin/usage.csv")
    assert r.status == 403 and "for administrators" in r.text()


def test_admin_sees_every_project_s_usage(browser: Browser, cloud: DashCloud,
                                          demo: Page) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "admin", cloud.password("admin"), path="/admin/")
    line = page.locator("#usage-table tbody tr", has_text="demo")
    assert line.count() == 1
    cells = [c.strip() for c in line.inner_text().split("\t")]
    # project, vCPUs, disk, RAM of its two active instances, then the hours
    assert cells[:4] == ["demo", "2", "2 GB", "256.0 MiB"], cells
    assert float(cells[4]) >= 0.0
    check_page(page, "admin-overview-usage")
    with page.expect_download() as dl:
        page.click("#usage-csv")
    got = list(csv.reader(io.StringIO(dl.value.path().read_text())))
    demo_line = next(r for r in got if r and r[0] == "demo")
    assert demo_line[1:4] == ["2", "256", "2"]
    # a past period: nobody used anything
    page.goto(cloud.dashboard_url + "/admin/?start=2020-01-01&end=2020-01-31")
    assert "No instances in any project" in page.locator("#usage-table").inner_text()
    ctx.close()
