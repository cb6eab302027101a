"""Nova's status mapping, the action table's 409s, and the filter scheduler."""

from __future__ import annotations

import pytest

from compute.core import scheduler, states
from compute.core.scheduler import HostState, Ratios, Request, select_host
from compute.errors import InstanceInvalidState, InstanceLocked, NoValidHost

UUID = "8b0e4c8e-55d2-4c7c-9d59-0b5f3f6f7a10"


@pytest.mark.parametrize(("vm", "task", "status"), [
    ("building", "scheduling", "BUILD"), ("active", None, "ACTIVE"),
    ("active", "rebooting", "REBOOT"), ("active", "rebooting_hard", "HARD_REBOOT"),
    ("active", "reboot_started_hard", "HARD_REBOOT"), ("active", "rebuilding", "REBUILD"),
    ("active", "powering-off", "ACTIVE"), ("active", "deleting", "ACTIVE"),
    ("stopped", None, "SHUTOFF"), ("stopped", "rebuilding", "REBUILD"),
    ("paused", None, "PAUSED"), ("suspended", None, "SUSPENDED"), ("error", None, "ERROR"),
    ("resized", None, "VERIFY_RESIZE"), ("resized", "resize_reverting", "REVERT_RESIZE"),
    ("shelved_offloaded", None, "SHELVED_OFFLOADED"), ("deleted", None, "DELETED"),
])
def test_status_is_novas(vm: str, task: str | None, status: str) -> None:
    assert states.status(vm, task) == status


def test_status_filters_select_vm_states() -> None:
    assert states.vm_states_of("shutoff") == ["stopped"]
    assert set(states.vm_states_of("REBOOT")) == {"active"}
    assert states.vm_states_of("nonsense") == []


@pytest.mark.parametrize(("key", "vm", "task"), [
    ("stop", "active", None), ("stop", "error", None), ("start", "stopped", None),
    ("pause", "active", None), ("unpause", "paused", None), ("suspend", "active", None),
    ("resume", "suspended", None), ("reboot", "active", None),
    ("reboot_hard", "stopped", None), ("reboot_hard", "active", "rebooting"),
    ("reboot_hard", "error", None), ("rebuild", "stopped", None),
    ("attach_volume", "stopped", None), ("lock", "building", "spawning"),
    ("create_image", "suspended", None), ("resize", "stopped", None),
    ("confirm_resize", "resized", None), ("revert_resize", "resized", None),
    ("shelve", "paused", None), ("shelve_offload", "shelved", None),
    ("unshelve", "shelved_offloaded", None), ("attach_interface", "stopped", None),
])
def test_allowed_actions(key: str, vm: str, task: str | None) -> None:
    assert states.check(key, UUID, vm, task).name


@pytest.mark.parametrize(("key", "vm", "task", "message"), [
    ("stop", "stopped", None, "Cannot 'stop' instance {u} while it is in vm_state stopped"),
    ("start", "active", None, "Cannot 'start' instance {u} while it is in vm_state active"),
    ("pause", "active", "pausing",
     "Cannot 'pause' instance {u} while it is in task_state pausing"),
    ("reboot", "active", "rebooting",
     "Cannot 'reboot' instance {u} while it is in task_state rebooting"),
    ("reboot", "stopped", None, "Cannot 'reboot' instance {u} while it is in vm_state stopped"),
    ("resume", "active", None, "Cannot 'resume' instance {u} while it is in vm_state active"),
    ("attach_volume", "building", "spawning",
     "Cannot 'attach_volume' instance {u} while it is in vm_state building"),
    ("create_image", "active", "image_snapshot_pending",
     "Cannot 'createImage' instance {u} while it is in task_state image_snapshot_pending"),
    ("resize", "resized", None, "Cannot 'resize' instance {u} while it is in vm_state resized"),
    ("confirm_resize", "active", None,
     "Cannot 'confirmResize' instance {u} while it is in vm_state active"),
    ("shelve", "shelved_offloaded", None,
     "Cannot 'shelve' instance {u} while it is in vm_state shelved_offloaded"),
    ("unshelve", "active", None, "Cannot 'unshelve' instance {u} while it is in vm_state active"),
    ("detach_interface", "suspended", None,
     "Cannot 'detach_interface' instance {u} while it is in vm_state suspended"),
])
def test_refused_actions_are_novas_409(key: str, vm: str, task: str | None,
                                       message: str) -> None:
    with pytest.raises(InstanceInvalidState) as info:
        states.check(key, UUID, vm, task)
    assert info.value.status == 409 and info.value.message == message.format(u=UUID)


def test_locked_servers_refuse_all_but_admins() -> None:
    with pytest.raises(InstanceLocked, match=f"Instance {UUID} is locked"):
        states.check("stop", UUID, "active", None, locked=True)
    assert states.check("stop", UUID, "active", None, locked=True, admin=True)
    assert states.check("unlock", UUID, "active", None, locked=True)


def test_every_action_with_an_operation_has_a_task_state_or_none() -> None:
    for key, act in states.ACTIONS.items():
        if act.op in ("stop", "start", "pause", "unpause", "suspend", "resume", "reboot"):
            assert act.task_state is not None, key


# -- scheduler ----------------------------------------------------------------------------


def host(name: str, *, vcpus: int = 2, ram: int = 4096, disk: int = 20, zone: str = "nova",
         up: bool = True, enabled: bool = True) -> HostState:
    return HostState(host=name, node=name, zone=zone, vcpus=vcpus, memory_mb=ram,
                     local_gb=disk, up=up, enabled=enabled)


RATIOS = Ratios(cpu=1.0, ram=1.0, disk=1.0, reserved_ram_mb=0)


def test_the_host_with_most_free_ram_wins() -> None:
    a, b = host("a", ram=2048), host("b", ram=8192)
    assert select_host([a, b], Request(1, 512, 1), RATIOS) is b


def test_filters_remove_down_disabled_full_and_other_zones() -> None:
    req = Request(vcpus=2, memory_mb=1024, disk_gb=10, zone="east")
    hosts = [host("down", up=False, zone="east"), host("off", enabled=False, zone="east"),
             host("west"), host("small", vcpus=1, zone="east"),
             host("tiny-disk", disk=5, zone="east"), host("ok", zone="east", ram=2048)]
    assert select_host(hosts, req, RATIOS).host == "ok"
    with pytest.raises(NoValidHost, match="No valid host was found"):
        select_host(hosts[:-1], req, RATIOS)


def test_allocation_ratios_and_reserved_memory() -> None:
    h = host("a", vcpus=2, ram=1024)
    assert select_host([h], Request(32, 128, 0), Ratios(cpu=16.0, ram=1.0,
                                                        reserved_ram_mb=0)) is h
    with pytest.raises(NoValidHost):
        select_host([h], Request(1, 1024, 0), Ratios(ram=1.0, reserved_ram_mb=512))


def test_consume_counts_servers_placed_in_one_request() -> None:
    a, b = host("a", ram=4096), host("b", ram=4096)
    req = Request(1, 1024, 1)
    placed = []
    for n in range(4):
        chosen = select_host([a, b], req, RATIOS)
        chosen.consume(req, f"s{n}")
        placed.append(chosen.host)
    assert sorted(placed) == ["a", "a", "b", "b"]  # spread by free RAM
    with pytest.raises(NoValidHost):
        for n in range(5):
            chosen = select_host([a, b], req, RATIOS)
            chosen.consume(req, f"t{n}")


def test_group_policies() -> None:
    a, b = host("a"), host("b", ram=8192)
    a.instances.add("m1")
    affinity = Request(1, 128, 0, group_policy="affinity", group_members=frozenset({"m1"}))
    assert select_host([a, b], affinity, RATIOS) is a
    anti = Request(1, 128, 0, group_policy="anti-affinity", group_members=frozenset({"m1"}))
    assert select_host([a, b], anti, RATIOS) is b
    b.instances.add("m2")
    both = Request(1, 128, 0, group_policy="anti-affinity",
                   group_members=frozenset({"m1", "m2"}))
    with pytest.raises(NoValidHost):
        select_host([a, b], both, RATIOS)
    two_per_host = Request(1, 128, 0, group_policy="anti-affinity",
                           group_members=frozenset({"m1", "m2"}), max_server_per_host=2)
    assert select_host([a, b], two_per_host, RATIOS) is b
    # soft policies only weigh: the RAM difference is outweighed by the group
    even = [host("x"), host("y")]
    even[0].instances.add("m1")
    soft = Request(1, 128, 0, group_policy="soft-affinity", group_members=frozenset({"m1"}))
    assert select_host(even, soft, RATIOS).host == "x"
    soft_anti = Request(1, 128, 0, group_policy="soft-anti-affinity",
                        group_members=frozenset({"m1"}))
    assert select_host(even, soft_anti, RATIOS).host == "y"


def test_an_admins_host_is_the_only_one() -> None:
    a, b = host("a"), host("b", ram=8192)
    assert select_host([a, b], Request(1, 128, 0, host="a"), RATIOS) is a
    with pytest.raises(NoValidHost):
        select_host([a, b], Request(1, 128, 0, host="c"), RATIOS)


def test_filter_and_weigher_names_are_novas() -> None:
    names = [n for n, _ in scheduler.FILTERS]
    assert "ComputeFilter" in names and "ServerGroupAntiAffinityFilter" in names
    assert next(n for n, _, _ in scheduler.WEIGHERS) == "RAMWeigher"
