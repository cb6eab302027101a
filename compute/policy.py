"""Who may do what in the compute API (Nova's default policy, reduced to its rules).

* ``admin`` does everything, for every project: lists all projects' servers
  (``all_tenants``), sees the ``OS-EXT-SRV-ATTR:*`` attributes and ``host_status``,
  manages flavors, quotas, services and hypervisors, unlocks what an admin locked.
* A member acts for the project its token is scoped to: its servers, server groups,
  and its user's own key pairs. Another project's server is 404, as in Nova.
* A token with only the ``reader`` role reads, never writes.
* The ``service`` role (other Strata services) is treated as a reader of every
  project's servers: the EC2 front and the metadata service read through it.
"""

from __future__ import annotations

from common.caller import Caller as BaseCaller
from compute.errors import PolicyNotAuthorized, ServerNotFound


class Caller(BaseCaller):
    @property
    def is_service(self) -> bool:
        return "service" in self.roles


def check_write(caller: Caller, rule: str) -> None:
    if not caller.can_write or (caller.is_service and not caller.is_admin
                                and caller.roles <= {"service", "reader"}):
        raise PolicyNotAuthorized(rule)


def check_admin(caller: Caller, rule: str) -> None:
    if not caller.is_admin:
        raise PolicyNotAuthorized(rule)


def sees_project(caller: Caller, project_id: str) -> bool:
    return caller.owns(project_id) or caller.is_service


def check_server(caller: Caller, project_id: str, uuid: str) -> None:
    """A server of another project does not exist for the caller (404)."""
    if not sees_project(caller, project_id):
        raise ServerNotFound(uuid)
