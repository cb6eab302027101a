"""Fixtures of the dashboard's tests: the browser and its watchdog, and where
screenshots are kept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functional.dashboard.browser import Watchdog, artifacts_dir, browser, watchdog

__all__ = ["browser", "watchdog"]


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
