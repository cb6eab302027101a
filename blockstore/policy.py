"""Who may do what with volumes (Cinder's default policy, reduced to its rules).

* An admin may do everything: see every project's volumes (``all_tenants``),
  reset statuses, force-delete, manage volume types and quotas.
* Everyone else acts for the project their token is scoped to, and sees and
  changes only that project's volumes, snapshots, attachments and transfers
  (a transfer is accepted by another project that knows its key).
* A token with only the ``reader`` role reads, never writes.
* The ``service`` role (another Strata service: compute attaching a server's
  volumes) sees and acts on every project's volumes, snapshots and attachments, as
  Cinder lets Nova; it is not an admin (no quotas, types, resets).
"""

from __future__ import annotations

from blockstore.errors import Forbidden, NotFound
from common.caller import Caller as Caller  # the callers this policy judges


def acts_for(caller: Caller, project_id: str) -> bool:
    """The caller's own project, or any for an admin or another Strata service."""
    return caller.owns(project_id) or "service" in caller.roles


def check_project(caller: Caller, project_id: str) -> None:
    """The URL's project must be the caller's own (or the caller an admin)."""
    if not caller.owns(project_id):
        raise Forbidden(f"Policy doesn't allow access to project {project_id}.")


def check_visible(caller: Caller, owner: str | None, what: str, ident: str) -> None:
    if owner is None or not acts_for(caller, owner):
        raise NotFound(f"{what} {ident} could not be found.")


def check_write(caller: Caller) -> None:
    if not caller.can_write:
        raise Forbidden("Policy doesn't allow this operation to be performed (read-only role).")


def check_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")
