"""Resize on a server's own host, as Nova's rules have it: a new flavor (not the same
one; never a smaller root disk for an image-backed server), the quota for the cores
and RAM it adds, then RESIZE until the agent has applied it, VERIFY_RESIZE until the
user confirms (the new flavor stays) or reverts (the old one comes back). The flavor
and vm_state before the resize wait in the server's system metadata; the servers'
``vcpus`` and ``memory_mb`` (so the quota usage) follow the flavor it has now.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from common.config import ComputeConfig
from compute import models as m
from compute import quotas
from compute.core import actions, flavors, servers, states
from compute.errors import FlavorNotFound, Invalid
from compute.policy import Caller

OLD_FLAVOR, NEW_FLAVOR, OLD_VM_STATE = "old_flavor", "new_flavor", "old_vm_state"
OLD_ROOT_GB = "old_root_gb"
KEYS = (OLD_FLAVOR, NEW_FLAVOR, OLD_VM_STATE, OLD_ROOT_GB)


def parse(args: Any) -> str:
    """The ``flavorRef`` of a resize body."""
    if not isinstance(args, dict) or "flavorRef" not in args:
        raise Invalid("Invalid input for field/attribute resize. 'flavorRef' is a "
                      "required property")
    unknown = set(args) - {"flavorRef", "OS-DCF:diskConfig"}
    if unknown:
        raise Invalid(f"Invalid input for field/attribute resize. Additional properties "
                      f"are not allowed ({', '.join(repr(k) for k in sorted(unknown))} "
                      "was unexpected)")
    ref = args["flavorRef"]
    if isinstance(ref, bool) or not isinstance(ref, (str, int)) or not str(ref).strip():
        raise Invalid(f"Invalid input for field/attribute flavorRef. Value: {ref}.")
    if args.get("OS-DCF:diskConfig", "MANUAL") not in ("AUTO", "MANUAL"):
        raise Invalid("Invalid input for field/attribute OS-DCF:diskConfig.")
    return str(ref)


def start(s: Session, cfg: ComputeConfig, who: Caller, uuid: str, flavor_ref: str, *,
          request_id: str) -> m.Instance:
    inst = servers.get(s, who, uuid)
    act = states.check("resize", uuid, inst.vm_state, inst.task_state, locked=inst.locked,
                       admin=who.is_admin, host=inst.host)
    try:
        row = flavors.get(s, who, flavor_ref)
    except FlavorNotFound:
        raise Invalid(f"Flavor {flavor_ref} could not be found.") from None
    if row.disabled:
        raise Invalid(f"Flavor {flavor_ref} could not be found.")
    new = flavors.snapshot(row)
    old = dict(inst.flavor or {})
    if new["flavorid"] == old.get("flavorid"):
        raise Invalid("When resizing, instances must change flavor!")
    if inst.image_ref and int(new["root_gb"]) < inst.root_gb:
        raise Invalid("Resize error: Unable to resize disk down.")
    if int((inst.image_meta or {}).get("min_ram") or 0) > int(new["memory_mb"]):
        raise Invalid("Flavor's memory is too small for requested image.")
    more = quotas.Want(0, max(int(new["vcpus"]) - inst.vcpus, 0),
                       max(int(new["memory_mb"]) - inst.memory_mb, 0))
    if more.cores or more.ram:
        quotas.check_servers(s, cfg, inst.project_id, more, 1, 1)
    record = actions.record(s, inst, act.name, request_id=request_id, user_id=who.user_id,
                            project_id=who.project_id or inst.project_id)
    meta = {**(inst.system_metadata or {}), OLD_FLAVOR: old, NEW_FLAVOR: new,
            OLD_VM_STATE: inst.vm_state, OLD_ROOT_GB: inst.root_gb}
    servers.touch(inst, task_state=act.task_state, system_metadata=meta)
    actions.queue(s, inst, "resize", action=record)
    return inst


def flavor_values(flavor: dict[str, Any], root_gb: int) -> dict[str, Any]:
    """The server's columns for ``flavor``."""
    return {"flavor": dict(flavor), "vcpus": int(flavor["vcpus"]),
            "memory_mb": int(flavor["memory_mb"]), "root_gb": root_gb,
            "ephemeral_gb": int(flavor.get("ephemeral_gb") or 0)}


def finished(meta: dict[str, Any] | None) -> dict[str, Any]:
    """The system metadata once the resize is confirmed or reverted."""
    return {k: v for k, v in (meta or {}).items() if k not in KEYS}
