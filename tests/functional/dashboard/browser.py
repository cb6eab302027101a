"""Headless Chromium for the dashboard's end-to-end tests: Debian's ``chromium`` driven
by Playwright (launched with ``executable_path``: no browser is ever downloaded), and
the checks every page gets (no injected script, every field labelled, a screenshot).

Screenshots go to ``$STRATA_ARTIFACTS/dashboard`` (point it where CI collects its
artifacts), else to ``var/artifacts/dashboard`` in the repository; the session's
summary names the directory.

The run is bounded: every Playwright call waits at most ``ACTION_TIMEOUT_MS`` (the
tests give a longer bound to the few waits on a service's work), and a watchdog kills
the browser once a test module has used it for ``BROWSER_BUDGET_S``, so a hung page
fails the tests that remain instead of holding CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
# CI runs as root in a container: no sandbox for root, and /dev/shm there is small.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
OUR_SCRIPTS = 2  # htmx.min.js and app.js: any other <script> element was injected
ACTION_TIMEOUT_MS = 30_000
BROWSER_BUDGET_S = 600.0  # a module's browser session; test_dashboard takes 2-4 minutes


def artifacts_dir() -> Path:
    base = os.environ.get("STRATA_ARTIFACTS")
    path = Path(base) / "dashboard" if base else REPO / "var" / "artifacts" / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    return path


def browser_processes(pid: int) -> list[int]:
    """The processes below ``pid`` that are Playwright's driver or Chromium (not the
    cloud's, nor a client a test runs)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process has just gone
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            try:
                argv = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"playwright" in argv or b"chromium" in argv:
                found.append(child)
    return found


class Watchdog:
    """Kills the browser and Playwright's driver once ``budget`` seconds have passed:
    whatever Playwright call was waiting then fails at once, and so do the rest."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.fired = False
        self._timer = threading.Timer(budget, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        for pid in browser_processes(os.getpid()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def check(self) -> None:
        if self.fired:
            pytest.fail(f"the browser session ran past its {self.budget:.0f} s budget "
                        f"and was killed", pytrace=False)


def find_chromium() -> str:
    """Debian's chromium; missing, the tests skip with the reason, or fail under CI."""
    exe = shutil.which("chromium") or CHROMIUM
    if not Path(exe).exists():
        reason = "chromium is missing: `strata test` installs the Debian package chromium"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return exe


# Module scope, not session: Playwright's sync API holds an event loop in this thread
# while it runs, and pytest-asyncio cannot start one for the async tests after it.
@pytest.fixture(scope="module")
def watchdog() -> Iterator[Watchdog]:
    with Watchdog(BROWSER_BUDGET_S) as dog:
        yield dog


@pytest.fixture(scope="module")
def browser(watchdog: Watchdog) -> Iterator[Browser]:
    exe = find_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS,
                               timeout=ACTION_TIMEOUT_MS)
        yield b
        if not watchdog.fired:
            b.close()


def new_context(browser: Browser, *, width: int = 1280, height: int = 900,
                javascript: bool = True) -> BrowserContext:
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              accept_downloads=True, java_script_enabled=javascript)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    return ctx


def accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda d: d.accept())


def shot(page: Page, name: str) -> Path:
    path = artifacts_dir() / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_page(page: Page, name: str) -> None:
    """What every page must be: no script element but ours (a name with HTML in it
    stays text), every visible form field labelled; then its screenshot."""
    scripts = page.locator("script").count()
    assert scripts == OUR_SCRIPTS, f"{name}: {scripts} <script> elements: something " \
                                   f"was injected"
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter(
        e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(
        e => e.name || e.id)""")
    assert not unlabelled, f"{name}: fields without a label: {unlabelled}"
    shot(page, name)


def no_xss(page: Page) -> None:
    """No script of a name with HTML in it ran (the tests' names set ``window.xss``)."""
    assert page.evaluate("() => window.xss") is None


def login(page: Page, base: str, user: str, password: str, *, domain: str = "Default",
          path: str = "/project/") -> None:
    page.goto(base + path)
    page.fill("#username", user)
    page.fill("#password", password)
    page.fill("#domain", domain)
    page.click("form[action='/auth/login'] button[type=submit]")
    page.wait_for_load_state()


def flash(page: Page) -> str:
    """The text of the page's messages (success or error)."""
    page.wait_for_selector(".flash")
    return " ".join(page.locator(".flash").all_inner_texts())


def open_box(page: Page, summary: str) -> None:
    """Open a create form (a <details> box) by its summary's text."""
    page.locator("summary", has_text=summary).first.click()
