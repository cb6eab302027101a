"""Who may call what through the EC2 front.

The native services decide (each call carries the caller's own token, so their
policy is the one that holds: another project's volume is not found, a reader
cannot create one). The front itself keeps tags and ids; its one rule is the
native ones' rule for writes: an action that changes something needs a role
that writes (a ``reader`` only describes), so a reader's CreateTags is refused
as a reader's CreateVolume is, and ``DryRun`` answers by the same rule.
"""

from __future__ import annotations

from common.caller import Caller as Caller  # the callers this policy judges
from ec2.errors import UnauthorizedOperation

READ_PREFIXES = ("Describe", "Get")


def reads_only(action: str) -> bool:
    return action.startswith(READ_PREFIXES)


def check(caller: Caller, action: str) -> None:
    """UnauthorizedOperation when ``caller`` may not call ``action`` at all."""
    if not caller.project_id:
        raise UnauthorizedOperation("EC2 credentials must belong to a project.")
    if not reads_only(action) and not caller.can_write:
        raise UnauthorizedOperation(f"You are not authorized to perform this operation "
                                    f"({action}): your role only reads.")
