"""Errors of the host data path, on the shared domain error base.

A data path failure is the host's, not the request's: the API answers 503 for
it (``common.errors.Unavailable``) if it ever surfaces in a request.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.errors import Unavailable


class DataPathError(Unavailable):
    """A kernel object or helper program of the data path could not be made,
    changed or removed; ``message`` says which and quotes the tool's error."""


class InvalidState(DataPathError):
    """The desired state contradicts itself (a port on a network it does not
    describe, a bad instance tag, ...): nothing was changed on the host."""


class ApplyError(DataPathError):
    """Some steps of ``DataPlane.apply`` failed (each was rolled back); the
    other steps were carried out. ``failures`` maps each failed step to its error."""

    def __init__(self, failures: Mapping[str, Exception]) -> None:
        self.failures = dict(failures)
        lines = "; ".join(f"{step}: {exc}" for step, exc in self.failures.items())
        super().__init__(f"{len(self.failures)} data path step(s) failed: {lines}")
