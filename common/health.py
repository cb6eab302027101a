"""Health checks: does a service's health URL answer 200?"""

from __future__ import annotations

import http.client
import time
import urllib.request

# Health URLs are on addresses we run ourselves; never send them through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def probe(url: str, timeout: float = 2.0) -> bool:
    """True when a GET of ``url`` answers 200 within ``timeout`` seconds."""
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except (OSError, ValueError, http.client.HTTPException):
        return False


def wait_until(url: str, timeout: float, interval: float = 0.2) -> bool:
    """Probe ``url`` until it answers 200 (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if probe(url):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
