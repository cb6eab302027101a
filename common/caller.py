"""Who calls an API, as a service's policy sees it: the user, the project the token is
scoped to, the roles it holds there (Keystone's implied roles included) and the token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    project_id: str | None
    roles: frozenset[str]
    token: str = ""
    request_id: str = ""  # of the request acting (the block store's user messages name it)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Every role but ``reader`` writes."""
        return self.is_admin or bool(self.roles - {"reader"})

    def owns(self, project_id: str) -> bool:
        """Acts for ``project_id``: its own project, or any as an admin."""
        return self.is_admin or (bool(self.project_id) and project_id == self.project_id)
