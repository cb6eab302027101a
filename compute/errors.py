"""Compute domain errors: the shared model of ``common.errors`` in Nova's words.

No HTTP here: ``common.http`` maps them by their status. The virt layer raises
these; a ``VirtError``'s message is what the API shows in a server's ``fault``.
"""

from __future__ import annotations

from common.errors import BadRequest, Conflict, NotFound, StrataError, Unavailable


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
