"""Compute domain errors: the shared model of ``common.errors`` in Nova's words.

No HTTP here: ``common.http`` maps them by their status. The virt layer raises
these; a ``VirtError``'s message is what the API shows in a server's ``fault``.
"""

from __future__ import annotations

from common.errors import BadRequest, NotFound, StrataError, Unavailable
from common.errors import Conflict as Conflict
from common.errors import Forbidden as StrataForbidden
from common.errors import Unauthorized as Unauthorized


class InstanceNotFound(NotFound):
    """No instance with this uuid on this hypervisor (or not one of this cloud's)."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"instance {uuid} could not be found on this host")
        self.uuid = uuid


class InvalidInstanceState(Conflict):
    """The instance's power state does not allow the operation (409, as Nova's)."""

    def __init__(self, uuid: str, operation: str, state: str) -> None:
        super().__init__(f"cannot {operation} instance {uuid} while it is {state}")
        self.uuid = uuid
        self.operation = operation
        self.state = state


class InvalidSpec(BadRequest):
    """An instance or device specification the driver cannot use; the message says why."""


class DeviceNotFound(NotFound):
    """No attached disk or interface matches (detach of something not attached)."""


class VirtError(StrataError):
    """The hypervisor failed an operation; the message (safe to show) goes into the fault."""


class HypervisorUnavailable(Unavailable):
    """The hypervisor (libvirtd) cannot be reached or cannot run guests here (503)."""


class ImageUnusable(VirtError):
    """An image's bytes cannot be used: wrong checksum, unsafe or not what it claims."""


# -- the API's and core's errors, in Nova's words -------------------------------------

Invalid = BadRequest  # "Invalid input for field/attribute ...": 400


class Forbidden(StrataForbidden):
    """The caller may not do this (403): Nova's ``Policy doesn't allow ...``."""


class PolicyNotAuthorized(Forbidden):
    def __init__(self, action: str) -> None:
        super().__init__(f"Policy doesn't allow {action} to be performed.")
        self.action = action


class QuotaExceeded(Forbidden):
    """A project or user quota would be passed (403, naming the quota, as Nova)."""

    def __init__(self, message: str, resource: str) -> None:
        super().__init__(message)
        self.resource = resource


class ItemNotFound(NotFound):
    """A server, flavor, key pair, group, ... that does not exist or is not the caller's."""


class ServerNotFound(ItemNotFound):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"Instance {uuid} could not be found.")


class FlavorNotFound(ItemNotFound):
    def __init__(self, flavor_id: str) -> None:
        super().__init__(f"Flavor {flavor_id} could not be found.")


class InstanceInvalidState(Conflict):
    """An action on a server whose vm_state or task_state does not allow it (409)."""

    def __init__(self, uuid: str, action: str, attr: str, state: str | None) -> None:
        super().__init__(f"Cannot '{action}' instance {uuid} while it is in {attr} {state}")
        self.uuid = uuid
        self.action = action


class InstanceLocked(Conflict):
    def __init__(self, uuid: str) -> None:
        super().__init__(f"Instance {uuid} is locked")


class NoValidHost(StrataError):
    """The scheduler found no host for a server: its fault (500, as Nova)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__("No valid host was found. " + (reason or "There are not enough "
                                                                  "hosts available."))
