"""Swift's middlewares, as proxy pipeline features (see ``proxy/pipeline.py``).

:func:`enabled` lists the features in pipeline order; each module holds one
feature and its ``/info`` entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from proxy.pipeline import Feature
    from proxy.state import ProxyState


def enabled(st: ProxyState) -> list[Feature]:
    """The features this proxy runs, outermost first."""
    return []
