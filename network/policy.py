"""Who may see and do what in the networking API (Neutron's default policy, reduced to
its rules).

* ``admin`` may do everything, for any project.
* A member acts for the project its token is scoped to: it sees and manages that
  project's networks, subnets, ports, routers, floating IPs, security groups and
  subnet pools. It also sees shared networks (and their subnets), shared subnet
  pools and external networks (``router:external``), which every project may use
  (router gateways, floating IPs) but not change.
* A project never sees another project's ports, routers, floating IPs or
  security groups; what it cannot see answers 404, what it sees but may not
  change answers 403.
* A token with only the ``reader`` role reads, never writes.
* The ``service`` role (the internal user other Strata services act as, e.g.
  compute) sees every network, subnet and port, and makes, changes and binds
  ports (``binding:*``) for any project, as Neutron's ``advsvc``/``service_api``
  rules allow Nova; it changes nothing else of a project's.
"""

from __future__ import annotations

from common.caller import Caller as BaseCaller
from network.errors import PolicyNotAuthorized


class Caller(BaseCaller):
    @property
    def is_service(self) -> bool:
        return "service" in self.roles

    @property
    def privileged(self) -> bool:
        """Sees and binds every port: admins and other services."""
        return self.is_admin or self.is_service


def deny(rule: str) -> PolicyNotAuthorized:
    return PolicyNotAuthorized(f"rule:{rule}")


def check_write(caller: Caller, rule: str) -> None:
    """Readers never write."""
    if not caller.can_write:
        raise deny(rule)


def check_admin(caller: Caller, rule: str) -> None:
    if not caller.is_admin:
        raise deny(rule)


def check_owner(caller: Caller, project_id: str, rule: str, *,
                service: bool = False) -> None:
    """Changing a resource the caller can see: its project's members, or an admin (or,
    where ``service``, another Strata service)."""
    check_write(caller, rule)
    if not caller.owns(project_id) and not (service and caller.is_service):
        raise deny(rule)


def network_visible(caller: Caller, project_id: str, shared: bool, external: bool) -> bool:
    return caller.owns(project_id) or shared or external


def target_project(caller: Caller, body: dict[str, object], member: str, *,
                   service: bool = False) -> str:
    """The project a new resource belongs to: the body's ``project_id``/``tenant_id``
    (another project's only for admins, or, where ``service``, other Strata services),
    else the caller's own."""
    rule = f"create_{member}"
    check_write(caller, rule)
    wanted = body.get("project_id") or body.get("tenant_id")
    project = str(wanted) if wanted else (caller.project_id or "")
    if not project:
        raise deny(rule)
    if project != caller.project_id and not caller.is_admin and not (
            service and caller.is_service):
        raise deny(rule)
    return project
