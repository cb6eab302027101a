"""How the data path names (and addresses) what it makes."""

from __future__ import annotations

from network.dataplane import names
from network.dataplane.plan import MAC_RE


def test_a_bridge_mac_is_fixed_unicast_and_locally_administered() -> None:
    mac = names.bridge_mac("t1", "3f0c5a3e-7d9b-4a61-9c1e-0b6f2d7a8e41")
    assert MAC_RE.fullmatch(mac)
    first = int(mac.split(":")[0], 16)
    assert first & 0x01 == 0 and first & 0x02  # unicast, locally administered
    assert mac == names.bridge_mac("t1", "3f0c5a3e-7d9b-4a61-9c1e-0b6f2d7a8e41")
    assert mac != names.bridge_mac("t2", "3f0c5a3e-7d9b-4a61-9c1e-0b6f2d7a8e41")
    assert mac != names.bridge_mac("t1", "3f0c5a3e-7d9b-4a61-9c1e-0b6f2d7a8e42")
