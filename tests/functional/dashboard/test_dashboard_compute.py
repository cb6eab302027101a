"""The dashboard's compute pages end to end in headless Chromium: a private cloud with
compute on its in-memory hypervisor (every API rule, ports, floating IPs and volume
attachments for real; no guest runs, so its console log is the driver's own boot
lines, not the script's output) and the tiny image. As demo: a key pair created and
its private key downloaded once, a public key imported; an instance launched from
the Launch Instance form with a customization script and a config drive, seen
ACTIVE, its console log and action log; a floating IP allocated and associated and
seen in the list; a volume attached and detached; stop and start; an instance named
``<script>`` shown as text; as admin, the demo project's instances in Admin >
Instances. Every page is checked for injected scripts and unlabelled fields and its
screenshot kept (see ``browser.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page

from compute.tinyguest import default_cache_dir
from tests.cloud import STRATA, read_openrc
from tests.functional.dashboard.browser import (
    accept_dialogs,
    check_page,
    flash,
    login,
    new_context,
    open_box,
)
from tests.functional.dashboard.dash_cloud import DashCloud, dashboard_cloud

XSS = "<script>window.xss=5</script>vm"
SCRIPT = "#!/bin/sh\necho hello-from-the-dashboard\n"
NANO = "m1.nano"
BOOTED = 120_000  # ms: an instance on the memory hypervisor is ACTIVE within seconds


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    with dashboard_cloud(tmp_path_factory, STRATA_COMPUTE_ENABLED="true",
                         STRATA_COMPUTE_VIRT_DRIVER="memory",
                         STRATA_COMPUTE_RESYNC_INTERVAL="2",
                         STRATA_COMPUTE_REPORT_INTERVAL="2") as c:
        upload_tiny(c)
        yield c


def upload_tiny(cloud: DashCloud) -> None:
    """``strata image tiny`` as admin: the tiny guest (built once per machine, cached)
    as the public image ``tiny``."""
    env = {**cloud.env, **read_openrc(cloud.var / "openrc"),
           "STRATA_TINY_CACHE": str(default_cache_dir())}
    r = subprocess.run([*STRATA, "image", "tiny"], env=env, capture_output=True, text=True,
                       timeout=900, check=False)
    if r.returncode != 0 and "cannot be built" in r.stderr:
        reason = f"the tiny guest cannot be built here: {r.stderr}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def demo_ctx(browser: Browser, cloud: DashCloud) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def demo(demo_ctx: BrowserContext, cloud: DashCloud) -> Page:
    page = demo_ctx.new_page()
    accept_dialogs(page)
    login(page, cloud.dashboard_url, "demo", cloud.password("demo"))
    return page


def no_xss(page: Page) -> None:
    assert page.evaluate("() => window.xss") is None


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


def test_key_pair_create_download_once_import_delete(demo: Page, cloud: DashCloud,
                                                     tmp_path: Path) -> None:
    base = cloud.dashboard_url + "/project/key_pairs/"
    demo.goto(base)
    check_page(demo, "project-key-pairs-empty")
    open_box(demo, "Create Key Pair")
    demo.fill("#f-name", "dashkey")
    demo.click("#create button[type=submit]")
    assert "Key pair dashkey was created" in flash(demo)
    check_page(demo, "project-key-pairs-created")
    with demo.expect_download() as dl:
        demo.click("#private-key a")
    assert dl.value.suggested_filename == "dashkey.pem"
    pem = tmp_path / "dashkey.pem"
    dl.value.save_as(pem)
    pem.chmod(0o600)
    assert "PRIVATE KEY-----" in pem.read_text()
    # the private key is the pair's: ssh derives the public key compute keeps
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(pem)], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
    demo.goto(base)
    assert demo.locator("#private-key").count() == 0  # offered once
    shown = demo.locator("#key-pairs tr", has_text="dashkey").locator("pre").text_content() or ""
    assert shown.split()[:2] == derived
    again = demo.goto(base + "download/dashkey")
    assert again is not None and again.status == 404
    assert "offered once and is not kept" in demo.locator("main").inner_text()

    # import: a public key made here
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imported",
                    "-f", str(tmp_path / "id")], check=True)
    demo.goto(base)
    open_box(demo, "Import Public Key")
    demo.fill("#import-name", "imported")
    demo.fill("#f-public_key", (tmp_path / "id.pub").read_text())
    demo.click("#import button[type=submit]")
    assert "Key pair imported was imported." in flash(demo)
    assert demo.locator("#key-pairs tr", has_text="imported").count() == 1
    # the API's refusal is shown on the page
    open_box(demo, "Import Public Key")
    demo.fill("#import-name", "broken")
    demo.fill("#f-public_key", "not a key")
    demo.click("#import button[type=submit]")
    assert re.search(r"\(HTTP 400\)", flash(demo))
    assert demo.locator("#key-pairs tr", has_text="broken").count() == 0
    demo.locator("#key-pairs tr", has_text="imported").locator("button",
                                                               has_text="Delete").click()
    assert "Key pair imported was deleted." in flash(demo)
    assert demo.locator("#key-pairs tr", has_text="imported").count() == 0
    check_page(demo, "project-key-pairs")
