"""The dashboard's compute pages end to end in headless Chromium: a private cloud with
compute on its in-memory hypervisor (every API rule, ports, floating IPs and volume
attachments for real, in seconds; no guest runs, so its console log is the driver's
own boot lines: ``test_dashboard_guest.py`` boots a real guest and sees its
script's output) and the tiny image. As demo: a key pair created and
its private key downloaded once, a public key imported; an instance launched from
the Launch Instance form with a customization script and a config drive, seen
ACTIVE, its console log and action log; a floating IP allocated and associated and
seen in the list; a volume attached and detached; stop and start; booting from a
new volume made from the image; an instance named
``<script>`` shown as text; as admin, the demo project's instances in Admin >
Instances. Every page is checked for injected scripts and unlabelled fields and its
screenshot kept (see ``browser.py``)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.functional.dashboard.browser import (
    check_page,
    flash,
    login,
    new_context,
    no_xss,
    open_box,
)
from tests.functional.dashboard.dash_cloud import DashCloud
from tests.functional.dashboard.instances import (
    BOOTED,
    NANO,
    detail_of,
    launch,
    memory_cloud,
    row,
    until,
)

XSS = "<script>window.xss=5</script>vm"
SCRIPT = "#!/bin/sh\necho hello-from-the-dashboard\n"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    with memory_cloud(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def demo(demo: Page, cloud: DashCloud) -> Page:
    """The shared demo page (conftest), logged in once for the module."""
    login(demo, cloud.dashboard_url, "demo", cloud.password("demo"))
    return demo


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


def test_launch_with_a_script_and_see_it_active_with_its_logs(demo: Page,
                                                              cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    # launching from the image list opens the form with that image chosen
    demo.goto(base + "/project/images/")
    demo.locator("#images-table tr").filter(has=demo.get_by_role(
        "link", name="tiny", exact=True)).locator("a", has_text="Launch").click()
    assert demo.locator("#f-image_id option:checked").inner_text() == "tiny (ami)"
    assert demo.locator("#f-key_name option:checked").inner_text() == "dashkey"
    assert demo.locator("#networks input[type=checkbox]:checked").count() == 1
    assert demo.locator("#f-image_id option", has_text="tiny-kernel").count() == 0
    check_page(demo, "project-instance-launch")
    # a form the API refuses comes back with the API's message
    demo.fill("#f-name", "no-image")
    demo.select_option("#f-image_id", "")
    demo.fill("#f-user_data", SCRIPT)
    demo.click("#launch button[type=submit]")
    assert "The source image is required." in flash(demo)
    assert demo.url.endswith("/project/instances/launch")
    # the form comes back as it was sent
    assert demo.input_value("#f-name") == "no-image"
    assert demo.input_value("#f-user_data") == SCRIPT
    # and the API's own refusal is shown too (a count over the project's quota)
    demo.select_option("#f-image_id", label="tiny (ami)")
    demo.fill("#f-count", "1000")
    demo.click("#launch button[type=submit]")
    assert re.search(r"[Qq]uota.*\(HTTP 403\)", flash(demo)), flash(demo)
    assert demo.input_value("#f-count") == "1000"

    launch(demo, base, "web1", script=SCRIPT, key="dashkey")
    assert "Instance web1 is being launched." in flash(demo)
    line = row(demo, "web1")
    # the list refreshes itself (htmx) while the instance builds
    line.locator(".status", has_text="ACTIVE").wait_for(timeout=BOOTED)
    cells = line.inner_text()
    assert "tiny" in cells and NANO in cells and "dashkey" in cells and "Running" in cells
    assert re.search(r"\b10\.\d+\.\d+\.\d+\b", cells), cells  # its fixed address
    check_page(demo, "project-instances")
    line.locator("a", has_text="web1").click()
    assert demo.locator("h1").inner_text() == "Instance web1"
    props = demo.locator("dl.props").inner_text()
    assert "dashkey" in props and "default" in props and "Config drive\nYes" in props
    check_page(demo, "project-instance-overview")
    demo.click("ul.page-tabs a:has-text('Log')")
    log = demo.locator("#console-log").inner_text()
    # the memory hypervisor's own boot line (no guest runs there to echo the script)
    assert "STRATA-MEMORY: boot 1" in log and "web1" in log, log
    check_page(demo, "project-instance-log")
    demo.click("ul.page-tabs a:has-text('Action Log')")
    assert demo.locator("#action-log tbody tr", has_text="create").count() == 1
    check_page(demo, "project-instance-action-log")
    # the overview's compute charts count it
    demo.goto(base + "/project/")
    for label, used in (("Instances", "1 used of"), ("VCPUs", "1 used of"),
                        ("RAM", "128 MiB used of")):
        assert used in demo.locator("figure.chart", has_text=label).first.inner_text()
    check_page(demo, "project-overview-compute")


def test_floating_ip_allocated_associated_and_in_the_list(demo: Page,
                                                          cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "web1")
    open_box(demo, "Associate Floating IP")
    demo.select_option("#f-floating_ip", label="Allocate a new one from public")
    demo.click("#associate button[type=submit]")
    assert "The floating IP was associated." in flash(demo)
    address = demo.locator("#addresses").inner_text()
    assert "floating" in address, address
    floating = re.search(r"(\S+) \(floating", address)
    assert floating
    demo.goto(base + "/project/instances/")
    assert f"{floating.group(1)} (floating)" in row(demo, "web1").inner_text()
    check_page(demo, "project-instances-floating-ip")
    demo.goto(here)
    demo.click(f"button:has-text('Disassociate Floating IP {floating.group(1)}')")
    assert "The floating IP was disassociated." in flash(demo)
    assert "floating" not in demo.locator("#addresses").inner_text()


def test_attach_a_volume_and_detach_it(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/volumes/")
    open_box(demo, "Create Volume")
    demo.fill("#f-name", "data1")
    demo.fill("#f-size", "1")
    demo.click("#create button[type=submit]")
    demo.locator("#volumes-table tr", has_text="data1").locator(
        ".status", has_text="available").wait_for(timeout=90_000)
    here = detail_of(demo, base, "web1")
    open_box(demo, "Attach Volume")
    demo.select_option("#f-volume_id", label="data1 (1 GiB)")
    demo.click("#attach button[type=submit]")
    assert "The volume is being attached." in flash(demo)
    until(demo, here, "#volumes", "data1")
    check_page(demo, "project-instance-volume-attached")
    demo.click("button:has-text('Detach Volume data1')")
    assert "The volume is being detached." in flash(demo)
    until(demo, here, "#volumes", "None")
    until(demo, base + "/project/volumes/", "#volumes-table", "available")
    # the same from the volume's page: attach to an instance chosen there, detach
    demo.locator("#volumes-table a", has_text="data1").click()
    volume = demo.url
    open_box(demo, "Attach to Instance")
    demo.select_option("#f-server_id", label="web1 (ACTIVE)")
    demo.click("#attach button[type=submit]")
    assert "The volume is being attached." in flash(demo)
    until(demo, volume, "#attached-to", "web1")
    check_page(demo, "project-volume-attached")
    demo.click("button:has-text('Detach from web1')")
    assert "The volume is being detached." in flash(demo)
    assert demo.url == volume
    until(demo, volume, "#attached-to", "Not attached")


def test_stop_and_start(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    here = detail_of(demo, base, "web1")
    demo.click("button:has-text('Shut Off Instance')")
    assert "The instance is shutting down." in flash(demo)
    until(demo, here, "dl.props", "SHUTOFF")
    assert demo.locator("button", has_text="Start Instance").count() == 1
    assert demo.locator("button", has_text="Shut Off Instance").count() == 0
    demo.click("button:has-text('Start Instance')")
    assert "The instance is starting." in flash(demo)
    until(demo, here, "dl.props", "ACTIVE")


def test_an_instance_named_script_is_text(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    launch(demo, base, XSS)
    assert f"Instance {XSS} is being launched." in flash(demo)
    row(demo, XSS).locator(".status", has_text="ACTIVE").wait_for(timeout=BOOTED)
    no_xss(demo)
    check_page(demo, "project-instances-html-name")
    row(demo, XSS).locator("a").first.click()
    assert demo.locator("h1").inner_text() == f"Instance {XSS}"
    no_xss(demo)
    check_page(demo, "project-instance-html-name")


def test_boot_from_a_new_volume_made_from_the_image(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/instances/launch")
    demo.fill("#f-name", "from-volume")
    demo.select_option("#f-image_id", label="tiny (ami)")
    demo.check("#f-new_volume")
    demo.fill("#f-volume_size", "1")
    demo.check("#f-delete_on_termination")
    demo.click("#launch button[type=submit]")
    assert "Instance from-volume is being launched." in flash(demo)
    line = row(demo, "from-volume")
    line.locator(".status", has_text="ACTIVE").wait_for(timeout=BOOTED)
    assert "(booted from volume)" in line.inner_text()
    # its root disk is a volume of the block store, in use by it
    demo.goto(base + "/project/volumes/")
    root = demo.locator("#volumes-table tbody tr", has_text="in-use")
    assert root.count() == 1 and "1 GiB" in root.inner_text()
    detail_of(demo, base, "from-volume")
    demo.click("button:has-text('Delete Instance')")
    assert "The instance is being deleted." in flash(demo)
    # deleted with it (delete on termination): data1 is the project's one volume again
    until(demo, base + "/project/volumes/", "#volumes-table caption", "1 volume", within=90)


def test_a_form_without_its_csrf_token_is_refused(demo: Page, demo_ctx: BrowserContext,
                                                  cloud: DashCloud) -> None:
    r = demo_ctx.request.post(cloud.dashboard_url + "/project/instances/launch",
                              form={"name": "forged", "image_id": "x", "flavor": "42"})
    assert r.status == 403
    r = demo_ctx.request.post(cloud.dashboard_url + "/project/key_pairs/create",
                              form={"name": "forged", "csrf_token": "not-it"})
    assert r.status == 403


def test_admin_sees_the_demo_project_s_instances(browser: Browser, cloud: DashCloud) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "admin", cloud.password("admin"), path="/admin/")
    page.click("nav.side a:has-text('Instances')")
    assert page.url.endswith("/admin/instances/")
    line = row(page, "web1")
    assert line.count() == 1 and "demo" in line.inner_text()
    assert row(page, XSS).count() == 1
    no_xss(page)
    check_page(page, "admin-instances")
    page.click("nav.side a:has-text('Hypervisors')")
    hypervisor = page.locator("#hypervisors tbody tr").first.inner_text()
    assert "memory" in hypervisor.lower() and "up" in hypervisor, hypervisor
    check_page(page, "admin-hypervisors")
    page.click("nav.side a:has-text('Flavors')")
    assert page.locator("#flavors tr", has_text=NANO).count() == 1
    check_page(page, "admin-flavors")
    ctx.close()


def test_a_reader_without_javascript_sees_instances_but_no_buttons_and_the_api_says_no(
        browser: Browser, cloud: DashCloud) -> None:
    cloud.add_user("rita", "rita-password", "demo", "reader")
    ctx = new_context(browser, javascript=False)  # every read page works without it
    page = ctx.new_page()
    base = cloud.dashboard_url
    login(page, base, "rita", "rita-password", path="/project/instances/")
    assert row(page, "web1").count() == 1
    assert page.locator("a", has_text="Launch Instance").count() == 0
    assert page.locator("#instances-table th", has_text="Actions").count() == 0
    check_page(page, "reader-instances")
    here = detail_of(page, base, "web1")
    assert page.locator("main button").count() == 0
    assert "web1" in page.locator("dl.props").inner_text()
    page.click("ul.page-tabs a:has-text('Log')")
    # reading the console is a member's action in compute's policy (as in Nova's):
    # the page says why the log is empty
    assert "(HTTP 403)" in flash(page)
    assert page.locator("#console-log").inner_text() == ""
    page.goto(base + "/project/key_pairs/")
    assert page.locator("summary", has_text="Create Key Pair").count() == 0
    # the buttons are not shown, but a forged request is still judged by compute
    token = page.get_attribute("input[name=csrf_token]", "value")
    r = page.request.post(here + "/stop", max_redirects=0,
                          form={"csrf_token": token or "", "next": here})
    assert r.status == 303
    page.goto(here)
    assert "(HTTP 403)" in flash(page)
    assert "ACTIVE" in page.locator("dl.props").inner_text()
    ctx.close()


def test_delete_the_instances(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    for name in ("web1", XSS):
        demo.goto(base + "/project/instances/")
        row(demo, name).locator("summary", has_text="Actions").click()
        row(demo, name).locator("button", has_text="Delete Instance").click()
        assert "The instance is being deleted." in flash(demo)
    deadline = time.monotonic() + 60
    while demo.locator("#instances-table tbody tr", has_text="No instances.").count() == 0:
        assert time.monotonic() < deadline, demo.locator("#instances-table").inner_text()
        time.sleep(1)
        demo.goto(base + "/project/instances/")
