"""The dashboard end to end: a private cloud with every service but compute, driven in
headless Chromium as a person would (clicks, uploads, downloads), the way the user
guide's workflows go: the demo user's volumes (snapshot, backup, upload to image,
transfer), images (from a file and from a URL), containers, networks and API access,
logging out, then the admin's pages and the transfer accepted; and the bad inputs (a wrong password,
forged or missing CSRF tokens, a member at an admin page, a token that stopped
working, HTML in names). Every page visited is checked for injected scripts and
unlabelled fields, and its screenshot is kept (see ``browser.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from tests.functional.dashboard.browser import (
    accept_dialogs,
    check_page,
    flash,
    login,
    new_context,
    no_xss,
    open_box,
    shot,
)
from tests.functional.dashboard.dash_cloud import DashCloud, dashboard_cloud

# Names with HTML in them: each must show as text everywhere (a test names things so).
VOLUME = "<script>window.xss=1</script>vol"
IMAGE = "<script>window.xss=2</script>img"
NETWORK = "<script>window.xss=3</script>net"
CONTAINER = "<script>c1"  # a container's name may not hold "/"
OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashCloud]:
    # web-download may fetch from loopback: the image imported from a URL is served
    # by this cloud's own object store (a public container)
    with dashboard_cloud(tmp_path_factory, STRATA_IMAGESTORE_WEB_DOWNLOAD="true",
                         STRATA_IMAGESTORE_WEB_DOWNLOAD_ALLOWED="http://127.0.0.1:") as c:
        yield c


@pytest.fixture(scope="module")
def handoff() -> dict[str, str]:
    """What one test leaves for a later one (a volume transfer's id and key)."""
    return {}


def test_a_wrong_password_shows_an_error_and_sets_no_session(browser: Browser,
                                                             cloud: DashCloud) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "demo", "not-the-password")
    assert "/auth/login" in page.url
    assert "Invalid user name, password or domain." in flash(page)
    check_page(page, "login-wrong-password")
    assert not [c for c in ctx.cookies() if c["name"] == "strata_session"]
    login(page, cloud.dashboard_url, "demo", cloud.password("demo"), domain="Nowhere")
    assert "Invalid user name, password or domain." in flash(page)
    assert not [c for c in ctx.cookies() if c["name"] == "strata_session"]
    ctx.close()


def test_log_in_as_demo_and_see_the_overview(demo: Page, demo_ctx: BrowserContext,
                                             cloud: DashCloud) -> None:
    login(demo, cloud.dashboard_url, "demo", cloud.password("demo"))
    assert demo.url.endswith("/project/")
    cookie = next(c for c in demo_ctx.cookies() if c["name"] == "strata_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert demo.locator("#project-switch option:checked").inner_text() == "demo"
    assert demo.locator(".who .user").inner_text() == "demo"
    for label in ("Volumes", "Volume Storage", "Floating IPs", "Security Groups", "Networks"):
        assert demo.locator("figure.chart", has_text=label).count() >= 1, label
    assert demo.locator("nav.side a", has_text="Admin").count() == 0  # a member
    check_page(demo, "project-overview")


def test_volume_create_snapshot_extend(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/volumes/")
    open_box(demo, "Create Volume")
    demo.fill("#f-name", VOLUME)
    demo.fill("#f-size", "1")
    demo.click("#create button[type=submit]")
    assert f"Volume {VOLUME} is being created." in flash(demo)
    row = demo.locator("#volumes-table tr", has_text=VOLUME)
    # the list refreshes itself (htmx) until the volume settles
    row.locator(".status", has_text="available").wait_for(timeout=90_000)
    no_xss(demo)
    check_page(demo, "project-volumes")
    row.locator("a").first.click()
    assert demo.locator("h1").inner_text() == f"Volume {VOLUME}"
    check_page(demo, "project-volume-detail")
    open_box(demo, "Create Snapshot")
    demo.fill("#snapshot-name", "snap1")
    demo.click("#snapshot button[type=submit]")
    assert "The snapshot is being created." in flash(demo)
    assert demo.url.endswith("/project/snapshots/")
    demo.locator("tr", has_text="snap1").locator(".status", has_text="available").wait_for(
        timeout=60_000)
    check_page(demo, "project-snapshots")
    # a refusal of the API is shown as its own message: extending to a smaller size
    demo.goto(base + "/project/volumes/")
    demo.locator("#volumes-table tr", has_text=VOLUME).locator("a").first.click()
    open_box(demo, "Extend Volume")
    demo.fill("#f-new_size", "1")
    demo.evaluate("() => document.querySelector('#f-new_size').removeAttribute('min')")
    demo.click("#extend button[type=submit]")
    message = flash(demo)
    assert "(HTTP 400)" in message and "size" in message.lower(), message


def test_volume_backup_upload_to_image_and_transfer(demo: Page, cloud: DashCloud,
                                                   handoff: dict[str, str]) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/volumes/")
    open_box(demo, "Create Volume")
    demo.fill("#f-name", "handed-over")
    demo.fill("#f-size", "1")
    demo.click("#create button[type=submit]")
    row = demo.locator("#volumes-table tr", has_text="handed-over")
    row.locator(".status", has_text="available").wait_for(timeout=90_000)
    row.locator("a").first.click()
    detail = demo.url
    # a backup, into the object store
    open_box(demo, "Create Backup")
    demo.fill("#backup-name", "backup1")
    demo.click("#backup button[type=submit]")
    assert "The backup is being created." in flash(demo)
    assert demo.url.endswith("/project/backups/")
    demo.locator("#backups-table tr", has_text="backup1").locator(
        ".status", has_text="available").wait_for(timeout=90_000)
    check_page(demo, "project-backups")
    # its bytes as a new image
    demo.goto(detail)
    demo.locator(".status", has_text="available").wait_for(timeout=90_000)
    open_box(demo, "Upload to Image")
    demo.fill("#f-image_name", "from-volume")
    demo.select_option("#f-disk_format", "qcow2")  # the empty GiB packs into a few KiB
    demo.click("#upload button[type=submit]")
    assert "The volume is being uploaded to an image." in flash(demo)
    demo.goto(base + "/project/images/")
    demo.locator("#images-table tr", has_text="from-volume").locator(
        ".status", has_text="active").wait_for(timeout=90_000)
    # a transfer: its key is shown once, then the offer is listed without it
    demo.goto(detail)
    demo.locator(".status", has_text="available").wait_for(timeout=90_000)
    open_box(demo, "Create Transfer")
    demo.fill("#transfer-name", "to-admin")
    demo.click("#transfer button[type=submit]")
    assert demo.url.endswith("/project/transfers/")
    handoff["transfer_id"] = demo.locator("#transfer-id").inner_text().strip()
    handoff["auth_key"] = demo.locator("#transfer-key").inner_text().strip()
    assert handoff["transfer_id"] and handoff["auth_key"]
    check_page(demo, "project-transfer-created")
    demo.reload()
    assert demo.locator("#transfer-key").count() == 0
    assert demo.locator("tr", has_text="to-admin").count() == 1
    assert handoff["auth_key"] not in demo.content()


def test_image_upload_from_a_file(demo: Page, cloud: DashCloud, tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(3 << 20))
    demo.goto(cloud.dashboard_url + "/project/images/")
    open_box(demo, "Create Image")
    demo.fill("#f-name", IMAGE)
    demo.select_option("#f-disk_format", "raw")
    demo.set_input_files("#f-file", str(disk))
    demo.click("#create button[type=submit]")
    assert f"Image {IMAGE} was uploaded." in flash(demo)
    row = demo.locator("#images-table tr", has_text=IMAGE)
    row.locator(".status", has_text="active").wait_for()
    assert "3.0 MiB" in row.inner_text()
    no_xss(demo)
    check_page(demo, "project-images")
    row.locator("a").first.click()
    check_page(demo, "project-image-detail")
    # the image service's own check refuses a lie: a "qcow2" that is raw bytes
    demo.goto(cloud.dashboard_url + "/project/images/")
    open_box(demo, "Create Image")
    demo.fill("#f-name", "not-a-qcow2")
    demo.select_option("#f-disk_format", "qcow2")
    demo.set_input_files("#f-file", str(disk))
    demo.click("#create button[type=submit]")
    assert "(HTTP 400)" in flash(demo)
    assert demo.locator("#images-table tr", has_text="not-a-qcow2").count() == 0


def test_container_upload_public_and_anonymous_read(demo: Page, cloud: DashCloud,
                                                    tmp_path: Path) -> None:
    hello = tmp_path / "hello.txt"
    hello.write_text("hello from the dashboard\n")
    demo.goto(cloud.dashboard_url + "/project/containers/")
    open_box(demo, "Create Container")
    demo.fill("#f-name", CONTAINER)
    demo.click("#create button[type=submit]")
    assert f"Container {CONTAINER} was created." in flash(demo)
    open_box(demo, "Create Folder")
    demo.fill("#folder-name", "docs")
    demo.click("#folder button[type=submit]")
    demo.click("a:text-is('docs/')")
    open_box(demo, "Upload File")
    demo.set_input_files("#f-file", str(hello))
    demo.click("#upload button[type=submit]")
    assert "docs/hello.txt was uploaded." in flash(demo)
    assert demo.locator("td a", has_text="hello.txt").count() == 1
    assert demo.locator("td time").first.inner_text().endswith(" UTC")  # not raw ISO
    check_page(demo, "project-container-folder")
    with demo.expect_download() as dl:
        demo.locator("a", has_text="Download").first.click()
    assert dl.value.suggested_filename == "hello.txt"
    assert Path(dl.value.path()).read_text() == hello.read_text()
    # private: an anonymous read is refused
    demo.goto(cloud.dashboard_url + "/project/containers/")
    demo.locator("a", has_text=CONTAINER).click()
    url = f"{cloud.proxy_url}/v1/AUTH_{cloud.project_id('demo')}/{quote(CONTAINER)}"
    assert requests.get(url + "/docs/hello.txt", timeout=30).status_code == 401
    demo.click("button:has-text('Make Public')")
    assert "The container is now public" in flash(demo)
    public = demo.get_attribute("#public-url", "href")
    assert public is not None
    r = requests.get(public + "/docs/hello.txt", timeout=30)  # no token: anonymous
    assert r.status_code == 200 and r.text == hello.read_text()
    check_page(demo, "project-container")
    demo.goto(cloud.dashboard_url + "/project/containers/")
    check_page(demo, "project-containers")
    no_xss(demo)


def test_image_from_a_url(demo: Page, cloud: DashCloud) -> None:
    """web-download: the image service fetches the public object the test before
    uploaded; a URL outside what it may fetch is its readable refusal."""
    public = f"{cloud.proxy_url}/v1/AUTH_{cloud.project_id('demo')}/{quote(CONTAINER)}"
    for name, url in (("from-url", public + "/docs/hello.txt"),
                      ("from-elsewhere", "http://192.0.2.1/disk.raw")):
        demo.goto(cloud.dashboard_url + "/project/images/")
        open_box(demo, "Create Image")
        demo.fill("#f-name", name)
        demo.select_option("#f-disk_format", "raw")
        demo.check("#src-url")
        demo.fill("#f-url", url)
        demo.click("#create button[type=submit]")
        message = flash(demo)
        if name == "from-url":
            assert f"Image {name} is being imported from the URL." in message, message
        else:
            assert "(HTTP 400)" in message or "(HTTP 403)" in message, message
            assert demo.locator("#images-table tr", has_text=name).count() == 0
    row = demo.locator("#images-table tr", has_text="from-url")
    row.locator(".status", has_text="active").wait_for(timeout=90_000)
    assert "25 Bytes" in row.inner_text()


def test_network_subnet_router_and_rules(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/networks/")
    open_box(demo, "Create Network")
    demo.fill("#f-name", NETWORK)
    demo.fill("#f-subnet_name", "web-sub")
    demo.fill("#f-cidr", "192.168.50.0/24")
    demo.click("#create button[type=submit]")
    assert f"Network {NETWORK} was created." in flash(demo)
    assert "192.168.50.0/24" in demo.locator("tr", has_text=NETWORK).inner_text()
    check_page(demo, "project-networks")
    demo.goto(base + "/project/routers/")
    open_box(demo, "Create Router")
    demo.fill("#f-name", "web-router")
    demo.select_option("#f-external_network_id", label="public")
    demo.click("#create button[type=submit]")
    assert "Router web-router was created." in flash(demo)
    demo.click("a:text-is('web-router')")
    open_box(demo, "Add Interface")
    demo.select_option("#f-subnet_id", label="web-sub (192.168.50.0/24)")
    demo.click("#add-interface button[type=submit]")
    assert "The interface was added." in flash(demo)
    assert "192.168.50.1" in demo.locator("table").inner_text()
    check_page(demo, "project-router")
    demo.goto(base + "/project/security_groups/")
    open_box(demo, "Create Security Group")
    demo.fill("#f-name", "web")
    demo.click("#create button[type=submit]")
    demo.click("a:text-is('web')")
    for rule, label in (("all_icmp", "ICMP"), ("ssh", "22")):
        open_box(demo, "Add Rule")
        demo.select_option("#f-rule", rule)
        demo.click("#add-rule button[type=submit]")
        assert "The rule was added." in flash(demo)
        assert demo.locator("tbody tr", has_text=label).count() >= 1
    check_page(demo, "project-security-group-rules")
    # an impossible rule is the networking service's readable refusal
    open_box(demo, "Add Rule")
    demo.select_option("#f-rule", "custom_tcp")
    demo.fill("#f-port", "70000")
    demo.click("#add-rule button[type=submit]")
    assert "(HTTP 400)" in flash(demo)
    demo.goto(base + "/project/floating_ips/")
    open_box(demo, "Allocate IP")
    demo.click("#allocate button[type=submit]")
    assert "A floating IP was allocated." in flash(demo)
    assert demo.locator("tbody tr", has_text="172.24.4.").count() == 1
    check_page(demo, "project-floating-ips")
    demo.goto(base + "/project/network_topology/")
    svg = demo.locator(".topology svg")
    assert svg.locator("text", has_text="web-router").count() == 1
    assert svg.locator("text", has_text=NETWORK).count() == 1
    no_xss(demo)
    check_page(demo, "project-network-topology")


def test_openrc_drives_the_openstack_client(demo: Page, cloud: DashCloud,
                                           tmp_path: Path) -> None:
    demo.goto(cloud.dashboard_url + "/project/api_access/")
    assert demo.locator("td", has_text="volumev3").count() == 1
    check_page(demo, "project-api-access")
    with demo.expect_download() as dl:
        demo.click("a:has-text('Download OpenStack RC File')")
    assert dl.value.suggested_filename == "demo-openrc.sh"
    rc = tmp_path / "demo-openrc.sh"
    dl.value.save_as(rc)
    assert "OS_PASSWORD=" not in rc.read_text().split("if [")[0]  # no secret in the file
    env = {"PATH": f"{Path(OPENSTACK).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", "-c", f'. "{rc}" && "{OPENSTACK}" volume list -f value -c Name'],
        input=cloud.password("demo") + "\n", env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert VOLUME in result.stdout.splitlines()
    # EC2 credentials for the S3 API
    demo.click("button:has-text('Create EC2 Credentials')")
    assert "EC2 credentials were created." in flash(demo)
    assert demo.locator("#ec2-credentials tbody tr td.mono").count() == 1


def test_csrf_tokens_are_checked_on_every_form(demo: Page, cloud: DashCloud) -> None:
    base = cloud.dashboard_url
    demo.goto(base + "/project/volumes/")
    token = demo.get_attribute("input[name=csrf_token]", "value")
    assert token
    forms: list[dict[str, str | float | bool]] = [
        {"size": "1", "name": "forged"}, {"size": "1", "csrf_token": "forged"},
        {"size": "1", "csrf_token": token[:-1] + "x"}]
    for form in forms:
        r = demo.request.post(base + "/project/volumes/create", form=form,
                              max_redirects=0)
        assert r.status == 403, form
        assert "CSRF" in r.text()
    r = demo.request.post(base + "/project/volumes/create", max_redirects=0,
                          multipart={"csrf_token": "forged", "size": "1"})
    assert r.status == 403
    demo.goto(base + "/project/volumes/")
    assert demo.locator("#volumes-table tr", has_text="forged").count() == 0


def test_a_member_at_an_admin_page_gets_403(demo: Page, cloud: DashCloud) -> None:
    response = demo.goto(cloud.dashboard_url + "/admin/volumes/")
    assert response is not None and response.status == 403
    assert "for administrators" in demo.locator(".flash").inner_text()
    check_page(demo, "member-at-admin-page-403")


def test_pages_work_without_javascript(browser: Browser, cloud: DashCloud) -> None:
    ctx = new_context(browser, javascript=False)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "demo", cloud.password("demo"), path="/project/volumes/")
    assert page.url.endswith("/project/volumes/")
    for path, text in (("/project/", "Volume Storage"), ("/project/volumes/", VOLUME),
                       ("/project/images/", IMAGE), ("/project/networks/", NETWORK),
                       ("/project/network_topology/", "web-router"),
                       ("/project/containers/", CONTAINER),
                       ("/project/api_access/", "identity")):
        response = page.goto(cloud.dashboard_url + path)
        assert response is not None and response.status == 200, path
        assert text in page.locator("main").inner_text(), path
    # a form posts too: the create box is a <details>, opened without script
    page.goto(cloud.dashboard_url + "/project/volumes/")
    open_box(page, "Create Volume")
    page.fill("#f-name", "no-js-volume")
    page.click("#create button[type=submit]")
    assert "Volume no-js-volume is being created." in flash(page)
    ctx.close()


def test_narrow_screen(browser: Browser, cloud: DashCloud) -> None:
    ctx = new_context(browser, width=390, height=844)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "demo", cloud.password("demo"), path="/project/volumes/")
    for path in ("/project/volumes/", "/project/", "/project/containers/"):
        page.goto(cloud.dashboard_url + path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than the screen"
    assert "1 container, 2 objects" in page.locator("main").inner_text()
    # the menu starts folded, so the page opens on its content; a tap unfolds it
    menu = page.locator("details.menu")
    assert menu.get_attribute("open") is None
    heading = page.locator("main h1").bounding_box()
    assert heading is not None and heading["y"] < 200
    shot(page, "narrow-containers")
    page.click("details.menu summary")
    page.locator("nav.side a", has_text="Volumes").first.click()
    assert page.url.endswith("/project/volumes/")
    # keyboard: the first Tab reaches the skip link, which moves focus to the content
    page.goto(cloud.dashboard_url + "/project/volumes/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    ctx.close()


def test_a_token_that_stops_working_returns_to_the_login_page_keeping_the_path(
        browser: Browser, cloud: DashCloud) -> None:
    uid = cloud.add_user("carol", "carol-password", "demo", "member")
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "carol", "carol-password")
    page.goto(cloud.dashboard_url + "/project/api_access/")
    assert page.locator("h1").inner_text() == "API Access"
    cloud.set_enabled(uid, False)  # identity revokes every token of carol's
    cloud.set_enabled(uid, True)
    page.goto(cloud.dashboard_url + "/project/api_access/")
    assert "/auth/login?next=/project/api_access/" in page.url
    assert "Your session has ended" in page.locator(".flash").inner_text()
    check_page(page, "login-after-token-expired")
    page.fill("#username", "carol")
    page.fill("#password", "carol-password")
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_url("**/project/api_access/")  # back where carol was
    ctx.close()


def test_a_reader_sees_no_buttons_and_the_api_still_says_no(browser: Browser,
                                                            cloud: DashCloud) -> None:
    cloud.add_user("rita", "rita-password", "demo", "reader")
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, cloud.dashboard_url, "rita", "rita-password", path="/project/volumes/")
    assert page.locator("#volumes-table tr", has_text=VOLUME).count() == 1
    assert page.locator("summary", has_text="Create Volume").count() == 0
    assert page.locator("button", has_text="Delete").count() == 0
    token = page.get_attribute("input[name=csrf_token]", "value")
    # the form is not shown, but a forged request is still judged by the block store
    r = page.request.post(cloud.dashboard_url + "/project/volumes/create", max_redirects=0,
                          form={"csrf_token": token or "", "size": "1", "name": "by-reader"})
    assert r.status == 303
    page.goto(cloud.dashboard_url + "/project/volumes/")
    assert "(HTTP 403)" in flash(page)
    assert page.locator("#volumes-table tr", has_text="by-reader").count() == 0
    check_page(page, "reader-volumes")
    ctx.close()


def test_log_out_revokes_the_session(demo: Page, demo_ctx: BrowserContext,
                                     cloud: DashCloud) -> None:
    demo.goto(cloud.dashboard_url + "/project/")
    demo.click("button:has-text('Log out')")
    assert "/auth/login" in demo.url
    assert not [c for c in demo_ctx.cookies() if c["name"] == "strata_session"]
    demo.goto(cloud.dashboard_url + "/project/volumes/")
    assert "/auth/login?next=/project/volumes/" in demo.url


def test_admin_sees_the_admin_pages(browser: Browser, cloud: DashCloud,
                                    handoff: dict[str, str]) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    accept_dialogs(page)
    login(page, cloud.dashboard_url, "admin", cloud.password("admin"), path="/admin/")
    assert page.url.endswith("/admin/")
    assert page.locator("nav.side a.current", has_text="Admin").count() == 1
    pages = {"/admin/": "Admin Overview", "/admin/volumes/": VOLUME,
             "/admin/volume_types/": "Volume Types", "/admin/images/": IMAGE,
             "/admin/networks/": NETWORK, "/admin/projects/": "demo",
             "/admin/users/": "carol", "/admin/quotas/": "Block storage",
             "/admin/info/": "volumev3"}
    for path, text in pages.items():
        response = page.goto(cloud.dashboard_url + path)
        assert response is not None and response.status == 200, path
        assert text in page.locator("main").inner_text(), path
        no_xss(page)
        check_page(page, path.strip("/").replace("/", "-"))
    # demo's volume, seen in the Admin tab with its project
    row = page.locator("tr", has_text=VOLUME)
    page.goto(cloud.dashboard_url + "/admin/volumes/")
    assert "demo" in row.first.inner_text()
    # every service of the catalog answers its health check
    page.goto(cloud.dashboard_url + "/admin/info/")
    states = page.locator("table").first.locator("td .status").all_inner_texts()
    assert states and set(states) == {"up"}
    # the members of project demo, with their roles
    page.goto(cloud.dashboard_url + "/admin/projects/")
    page.locator("tr", has_text="demo").locator("a", has_text="Manage Members").click()
    members = page.locator("table").inner_text()
    assert "demo" in members and "carol" in members and "rita" in members
    check_page(page, "admin-project-members")
    # a project and a user: made, disabled, enabled again and deleted from their pages
    for kind, fill in (("project", {"#f-name": "scratch"}),
                       ("user", {"#f-name": "dave", "#f-password": "dave-password",
                                 "#f-confirm": "dave-password"})):
        page.goto(f"{cloud.dashboard_url}/admin/{kind}s/")
        open_box(page, f"Create {kind.capitalize()}")
        for selector, value in fill.items():
            page.fill(selector, value)
        if kind == "user":
            page.select_option("#f-project_id", label="demo")
            page.select_option("#f-role_id", label="member")
        page.click("#create button[type=submit]")
        assert f"The {kind} was created." in flash(page)
        name = fill["#f-name"]
        cell = f"td:first-child > a:text-is('{name}')" if kind == "project" else \
            f"td:first-child:text-is('{name}')"  # a project's name links to its members
        row = page.locator("tbody tr", has=page.locator(cell))
        for button, done, shown in (("Disable", "disabled", "No"), ("Enable", "enabled", "Yes")):
            row.locator("button", has_text=button).click()
            assert f"The {kind} was {done}." in flash(page)
            assert shown in row.locator("td").all_inner_texts()
            if kind == "user":
                found = cloud.identity("GET", "/users", params={"name": "dave"})["users"]
                assert found[0]["enabled"] is (done == "enabled")
        row.locator("button", has_text="Delete").click()
        assert f"The {kind} was deleted." in flash(page)
        assert row.count() == 0
    # but never what the admin stands on: their own project, themselves
    page.goto(cloud.dashboard_url + "/admin/projects/")
    page.locator("tbody tr", has=page.locator("td:first-child > a:text-is('admin')")).locator(
        "button", has_text="Delete").click()
    assert "You cannot delete the project you are working in." in flash(page)
    page.goto(cloud.dashboard_url + "/admin/users/")
    page.locator("tbody tr", has=page.locator("td:first-child:text-is('admin')")).locator(
        "button", has_text="Delete").click()
    assert "You cannot delete yourself." in flash(page)
    # the admin takes over the volume demo offered, in project admin
    page.goto(cloud.dashboard_url + "/project/transfers/")
    open_box(page, "Accept Transfer")
    page.fill("#f-transfer_id", handoff["transfer_id"])
    page.fill("#f-auth_key", handoff["auth_key"])
    page.click("#accept button[type=submit]")
    assert "The transfer was accepted" in flash(page)
    assert page.locator("#volumes-table tr", has_text="handed-over").count() == 1
    ctx.close()
