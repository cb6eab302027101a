"""Fixtures of the dashboard's tests: the browser and its watchdog, the demo user's
browser context and page (on the ``cloud`` of the module that asks), and where
screenshots are kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.functional.dashboard.browser import (
    Watchdog,
    accept_dialogs,
    artifacts_dir,
    browser,
    new_context,
    watchdog,
)
from tests.functional.dashboard.dash_cloud import DashCloud

__all__ = ["browser", "watchdog"]


@pytest.fixture(scope="module")
def demo_ctx(browser: Browser, cloud: DashCloud) -> Iterator[BrowserContext]:
    ctx = new_context(browser)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def demo(demo_ctx: BrowserContext, cloud: DashCloud) -> Page:
    page = demo_ctx.new_page()
    accept_dialogs(page)
    return page


@pytest.fixture(autouse=True)
def _within_budget(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test running when the watchdog killed the browser says so, rather than only
    Playwright's 'Target closed'."""
    yield
    if "browser" in request.fixturenames:
        dog: Watchdog = request.getfixturevalue("watchdog")
        dog.check()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = artifacts_dir()
    if any(shots.glob("*.png")):
        terminalreporter.write_line(f"dashboard screenshots: {shots}")
