"""Sessions: a random id in a cookie, everything else (the tokens) on the server.

Why server-side and not the token itself, encrypted, in the cookie: the token
never leaves the dashboard, not even encrypted, so a cookie copied out of a
browser is no Keystone token for anyone's ``openstack`` client; logging out
removes the entry at once (a copied cookie is dead even if the revocation
call failed); and the per-session state the pages need (the CSRF secret, the
unscoped token the project switcher re-scopes, the catalog, the project list,
messages for the next page) sits beside it instead of growing the cookie past
what browsers keep. The cost: sessions live in this process's memory, so a
restart of the dashboard logs everyone out. The store is bounded
(``max_sessions``, least recently used out first) and a session ends after
``session_idle_timeout`` seconds unused or when its token expires.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SESSION_COOKIE = "strata_session"
LOGIN_COOKIE = "strata_login"  # the CSRF secret of the login form (no session yet)
# A token is treated as expired this long before identity says it is, so that a page
# or an upload that starts with it does not fail half way.
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain_id: str = ""


@dataclass(frozen=True)
class Endpoint:
    """A catalog entry's public URL for one service type."""

    type: str
    name: str
    url: str
    region: str


@dataclass
class Session:
    """One logged-in browser: who, in which project, with which tokens."""

    id: str
    csrf: str
    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    unscoped_token: str  # re-scoped when the user switches project
    token: str  # scoped to ``project``; what every API call sends
    expires_at: float  # of ``token`` (wall clock)
    project: Project
    roles: frozenset[str]
    endpoints: dict[str, Endpoint]  # by service type
    projects: list[Project]
    region: str = ""
    flashes: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    last_seen: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a one-time secret to show

    def flash(self, level: str, message: str) -> None:
        """A message for the next page shown (``success``, ``error``, ``info``)."""
        self.flashes.append((level, message))
        del self.flashes[:-10]

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out

    def has_role(self, role: str) -> bool:
        """Keystone's implied roles: admin implies member implies reader."""
        implied = {"reader": {"reader", "member", "admin"}, "member": {"member", "admin"},
                   "admin": {"admin"}}
        return bool(self.roles & implied.get(role, {role}))

    @property
    def is_admin(self) -> bool:
        return self.has_role("admin")

    @property
    def can_write(self) -> bool:
        return self.has_role("member")

    def endpoint(self, service_type: str) -> str | None:
        ep = self.endpoints.get(service_type)
        return ep.url if ep else None


class SessionStore:
    """Sessions by id, in memory, bounded, ending when idle or when their token expires."""

    def __init__(self, *, idle_timeout: float, max_sessions: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._idle = idle_timeout
        self._max = max_sessions
        self._clock = clock

    def new_id(self) -> str:
        return secrets.token_urlsafe(32)

    def add(self, session: Session) -> None:
        session.last_seen = self._clock()
        self._sessions[session.id] = session
        self._sessions.move_to_end(session.id)
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)

    def get(self, session_id: str | None) -> tuple[Session | None, bool]:
        """(the live session of ``session_id``, whether one existed but ended: its token
        expired or it sat idle too long). An ended session is removed."""
        if not session_id:
            return None, False
        s = self._sessions.get(session_id)
        if s is None:
            return None, False
        now = self._clock()
        if now - s.last_seen > self._idle or now >= s.expires_at - EXPIRY_MARGIN:
            self.drop(session_id)
            return None, True
        s.last_seen = now
        self._sessions.move_to_end(session_id)
        return s, False

    def drop(self, session_id: str) -> Session | None:
        return self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)
