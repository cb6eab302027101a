"""Server states, as Nova has them, and the one table of what each action may start from.

A server has a ``vm_state`` (what it is: building, active, stopped, ...), a
``task_state`` (what is being done to it now, or None) and a ``power_state`` (what the
hypervisor last said). The API shows ``status``, derived from the first two
(:func:`status`). :data:`ACTIONS` says, for every action the API takes, from which
vm_states and task_states it may start, which task_state it sets while the agent
works, and which agent operation does the work; anything else is Nova's 409
(``Cannot 'stop' instance <uuid> while it is in vm_state stopped``).

Actions join by a row here and an operation in the agent's table
(:data:`compute.agent.ops.OPERATIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compute.errors import InstanceInvalidState, InstanceLocked
from compute.virt.driver import PowerState

# -- vm states ------------------------------------------------------------------------
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# -- task states ----------------------------------------------------------------------
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
NETWORKING = "networking"
SPAWNING = "spawning"
REBOOTING = "rebooting"
REBOOT_PENDING = "reboot_pending"
REBOOT_STARTED = "reboot_started"
REBOOTING_HARD = "rebooting_hard"
REBOOT_PENDING_HARD = "reboot_pending_hard"
REBOOT_STARTED_HARD = "reboot_started_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBUILDING = "rebuilding"
REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
REBUILD_SPAWNING = "rebuild_spawning"
DELETING = "deleting"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_SNAPSHOT_PENDING = "image_snapshot_pending"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
SHELVING = "shelving"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
MIGRATING = "migrating"
RESCUING = "rescuing"
UNRESCUING = "unrescuing"
UPDATING_PASSWORD = "updating_password"

# -- power states (Nova's numbers) ---------------------------------------------------
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

# A suspended guest's memory is saved to disk and its domain is off: Nova's libvirt
# driver reports such a guest as SHUTDOWN, so do we.
POWER_OF: Mapping[PowerState, int] = {
    PowerState.RUNNING: RUNNING, PowerState.PAUSED: PAUSED_POWER,
    PowerState.SUSPENDED: SHUTDOWN, PowerState.SHUTDOWN: SHUTDOWN,
    PowerState.CRASHED: CRASHED, PowerState.NOSTATE: NOSTATE,
}

_REBOOT_TASKS = {REBOOTING: "REBOOT", REBOOT_PENDING: "REBOOT", REBOOT_STARTED: "REBOOT",
                 REBOOTING_HARD: "HARD_REBOOT", REBOOT_PENDING_HARD: "HARD_REBOOT",
                 REBOOT_STARTED_HARD: "HARD_REBOOT"}
_REBUILD_TASKS = {REBUILDING: "REBUILD", REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD",
                  REBUILD_SPAWNING: "REBUILD"}
_RESIZE_TASKS = {RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE",
                 RESIZE_MIGRATED: "RESIZE", RESIZE_FINISH: "RESIZE"}
# vm_state -> (status, {task_state: status that overrides it})
_STATUS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    ACTIVE: ("ACTIVE", {**_REBOOT_TASKS, **_REBUILD_TASKS, **_RESIZE_TASKS,
                        UPDATING_PASSWORD: "PASSWORD", MIGRATING: "MIGRATING"}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {**_RESIZE_TASKS, **_REBUILD_TASKS}),
    RESIZED: ("VERIFY_RESIZE", {RESIZE_REVERTING: "REVERT_RESIZE"}),
    PAUSED: ("PAUSED", {MIGRATING: "MIGRATING"}),
    SUSPENDED: ("SUSPENDED", {}),
    RESCUED: ("RESCUE", {}),
    ERROR: ("ERROR", _REBUILD_TASKS),
    DELETED: ("DELETED", {}),
    SOFT_DELETED: ("SOFT_DELETED", {}),
    SHELVED: ("SHELVED", {}),
    SHELVED_OFFLOADED: ("SHELVED_OFFLOADED", {}),
}


def status(vm_state: str, task_state: str | None) -> str:
    """The API's ``status`` of a server in these states (Nova's mapping)."""
    shown, by_task = _STATUS.get(vm_state, ("UNKNOWN", {}))
    return by_task.get(task_state or "", shown)


def vm_states_of(status_name: str) -> list[str]:
    """The vm_states a ``status`` filter of the server listing selects."""
    wanted = status_name.upper()
    return [vm for vm, (shown, by_task) in _STATUS.items()
            if shown == wanted or wanted in by_task.values()]


# -- the action table -----------------------------------------------------------------

ANY = None  # any vm_state


@dataclass(frozen=True)
class Action:
    """An action on a server. ``name`` is Nova's, as messages and the instance action
    records say it; ``op`` the agent's operation (None: the API does it all)."""

    name: str
    vm_states: frozenset[str] | None
    task_state: str | None = None  # set while the agent works
    op: str | None = None
    task_states: frozenset[str | None] = frozenset({None})  # allowed current task states
    check_lock: bool = True
    needs_host: bool = True


_REBOOT_ALLOWED_TASKS = frozenset({None, REBOOTING, REBOOT_PENDING, REBOOT_STARTED,
                                   REBOOTING_HARD, REBOOT_PENDING_HARD, REBOOT_STARTED_HARD,
                                   RESUMING, UNPAUSING, PAUSING, SUSPENDING})
_VOLUME_STATES = frozenset({ACTIVE, PAUSED, STOPPED, RESIZED, SOFT_DELETED, SHELVED,
                            SHELVED_OFFLOADED})

_SNAPSHOT_STATES = frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED})
_INTERFACE_STATES = frozenset({ACTIVE, PAUSED, STOPPED})
_CONSOLE_STATES = frozenset({ACTIVE, PAUSED, RESIZED, RESCUED})

ACTIONS: Mapping[str, Action] = {
    "stop": Action("stop", frozenset({ACTIVE, ERROR}), POWERING_OFF, "stop"),
    "start": Action("start", frozenset({STOPPED}), POWERING_ON, "start"),
    "pause": Action("pause", frozenset({ACTIVE}), PAUSING, "pause"),
    "unpause": Action("unpause", frozenset({PAUSED}), UNPAUSING, "unpause"),
    "suspend": Action("suspend", frozenset({ACTIVE}), SUSPENDING, "suspend"),
    "resume": Action("resume", frozenset({SUSPENDED}), RESUMING, "resume"),
    "reboot": Action("reboot", frozenset({ACTIVE}), REBOOTING, "reboot"),
    "reboot_hard": Action("reboot", frozenset({ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR}),
                          REBOOTING_HARD, "reboot", task_states=_REBOOT_ALLOWED_TASKS),
    "rebuild": Action("rebuild", frozenset({ACTIVE, STOPPED, ERROR}), REBUILDING, "rebuild"),
    "attach_volume": Action("attach_volume", _VOLUME_STATES, None, "attach_volume"),
    "detach_volume": Action("detach_volume", _VOLUME_STATES, None, "detach_volume"),
    "swap_volume": Action("swap_volume", frozenset({ACTIVE, PAUSED, RESIZED}), None, None),
    "create_image": Action("createImage", _SNAPSHOT_STATES, IMAGE_SNAPSHOT_PENDING,
                           "snapshot"),
    "resize": Action("resize", frozenset({ACTIVE, STOPPED}), RESIZE_PREP, "resize"),
    "confirm_resize": Action("confirmResize", frozenset({RESIZED}), None, "confirm_resize"),
    "revert_resize": Action("revertResize", frozenset({RESIZED}), RESIZE_REVERTING,
                            "revert_resize"),
    "shelve": Action("shelve", _SNAPSHOT_STATES, SHELVING, "shelve"),
    "shelve_offload": Action("shelveOffload", frozenset({SHELVED}), SHELVING_OFFLOADING,
                             "shelve_offload"),
    "unshelve": Action("unshelve", frozenset({SHELVED, SHELVED_OFFLOADED}), UNSHELVING,
                       "unshelve", needs_host=False),
    "attach_interface": Action("attach_interface", _INTERFACE_STATES, None,
                               "attach_interface"),
    "detach_interface": Action("detach_interface", _INTERFACE_STATES, None,
                               "detach_interface"),
    "lock": Action("lock", ANY, check_lock=False, needs_host=False),
    "unlock": Action("unlock", ANY, check_lock=False, needs_host=False),
    "get_console_output": Action("get_console_output", ANY, check_lock=False),
    "add_security_group": Action("addSecurityGroup", ANY, needs_host=False),
    "remove_security_group": Action("removeSecurityGroup", ANY, needs_host=False),
    "update": Action("update", ANY, check_lock=True, needs_host=False),
    "reset_state": Action("resetState", ANY, check_lock=False, needs_host=False),
    # remote consoles: only a guest that runs (or is paused) has one
    "get_vnc_console": Action("get_vnc_console", _CONSOLE_STATES, check_lock=False),
    "get_serial_console": Action("get_serial_console", _CONSOLE_STATES, check_lock=False),
}

# Actions whose current task_state does not matter (lock, unlock, console, ...).
ANY_TASK = frozenset({"lock", "unlock", "get_console_output", "add_security_group",
                      "remove_security_group", "update", "reset_state", "get_vnc_console",
                      "get_serial_console"})


def check(action_key: str, uuid: str, vm_state: str, task_state: str | None, *,
          locked: bool = False, admin: bool = False, host: str | None = "x") -> Action:
    """The action, when a server in these states may take it; else Nova's 409."""
    act = ACTIONS[action_key]
    if act.check_lock and locked and not admin:
        raise InstanceLocked(uuid)
    if act.vm_states is not None and vm_state not in act.vm_states:
        raise InstanceInvalidState(uuid, act.name, "vm_state", vm_state)
    if action_key not in ANY_TASK and task_state not in act.task_states:
        raise InstanceInvalidState(uuid, act.name, "task_state", task_state)
    if act.needs_host and not host:
        raise InstanceInvalidState(uuid, act.name, "vm_state", vm_state)
    return act
