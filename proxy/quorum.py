"""Quorum, in one place: how many replicas must agree, and what the client hears.

Writes go to every primary (a handoff standing in for each primary that is
down) and succeed when a majority answers with the same class of status.
Swift's rule: group the answers by class (2xx, 3xx, 4xx, 5xx); the first class
that reaches quorum decides; no quorum at all is 503. Reads need one good copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from objectstore.protocol import BACKEND_DELETE_TIMESTAMP, BACKEND_TIMESTAMP


def write_quorum(replicas: int) -> int:
    """Answers needed for a write of ``replicas`` copies to count: a majority."""
    return replicas // 2 + 1


@dataclass
class Answer:
    """One storage node's reply (status 503 stands for "no reply")."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    node: str = ""
    reason: str = ""  # the node's own words, kept for 4xx answers
    handoff: bool = False  # from a handoff, not one of the primaries (reads)

    @property
    def authoritative(self) -> bool:
        """Whether a read's answer counts. A handoff's 404 does not, unless it holds
        a tombstone (its X-Backend-Timestamp), nor its 5xx: it says nothing of the
        replicas the primaries hold (Swift's rule)."""
        if not self.handoff:
            return True
        if self.status == 404:  # a tombstone, or a deleted DB
            return bool(self.headers.get(BACKEND_TIMESTAMP)
                        or self.headers.get(BACKEND_DELETE_TIMESTAMP))
        return self.status < 500


def read_failure(answers: Sequence[Answer], replicas: int) -> int:
    """The status of a read no replica answered well: a 4xx that a majority of
    ``replicas`` agree on (a 404 when most say 404), else 503. A primary that
    answered but could not be read counts as a failure, never as "not found":
    an account whose primaries cannot be read is not an empty account."""
    counted = [a.status for a in answers if a.authoritative and a.status // 100 == 4]
    need = write_quorum(replicas)
    for status in (404, *sorted(set(counted))):
        if counted.count(status) >= need:
            return status
    return 503


def decide(answers: Sequence[Answer], replicas: int) -> tuple[int, list[Answer]]:
    """The status for the client and the answers that carried it.

    ``answers`` may be fewer than ``replicas`` (nodes that never answered
    count as failures). A 2xx quorum wins outright; 4xx quorum returns the
    most common 4xx; otherwise 503.
    """
    need = write_quorum(replicas)
    by_class: dict[int, list[Answer]] = {}
    for a in answers:
        by_class.setdefault(a.status // 100, []).append(a)
    for klass in (2, 3, 4):
        group = by_class.get(klass, [])
        if len(group) >= need:
            statuses = [a.status for a in group]
            chosen = max(set(statuses), key=lambda s: (statuses.count(s), -s))
            return chosen, [a for a in group if a.status == chosen]
    return 503, []
