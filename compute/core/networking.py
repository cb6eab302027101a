"""A server's networks: what a create request asks for, resolved with the networking
service before anything is made (networks visible to the caller, ports free, security
group names found), as Nova's API does.

``networks`` is ``none`` (no NIC), ``auto`` (the project's one usable network; 409
when there are several, as Nova says), or a list of network and port requests. Until
a networking service is reachable only ``none`` (and ``auto`` meaning none) can be
served.
"""

from __future__ import annotations

from typing import Any

from compute.core.requests import CreateRequest
from compute.errors import Invalid
from compute.policy import Caller
from compute.state import ComputeState


async def resolve(st: ComputeState, who: Caller, req: CreateRequest
                  ) -> tuple[Any, list[dict[str, str]]]:
    """(the networks to give the server, its security groups as [{"name", "id"}])."""
    groups = [{"name": name, "id": ""} for name in req.security_groups]
    if req.networks in (None, "none", "auto") or req.networks == []:
        return "none", groups
    raise Invalid("Networking is not available: this cloud has no networking service, so "
                  "servers can only be created with networks 'none'.")
