"""The host data path: turns a :class:`~network.dataplane.model.DesiredState`
(read from the networking database) into Linux bridges, taps, veths, network
namespaces, dnsmasq instances, metadata proxies and nftables rules on this
host, and removes what belongs to nothing. No HTTP and no SQL here.

``DataPlane(instance, run_dir)`` is the entry point: ``await check()`` says
what the host lacks, ``await apply(state)`` converges the host to the state.
"""

from network.dataplane.errors import ApplyError, DataPathError, InvalidState
from network.dataplane.plane import DataPlane
from network.dataplane.preflight import DEBIAN_PACKAGES, TOOLS, Preflight, check

__all__ = [
           "DEBIAN_PACKAGES",
           "TOOLS",
           "ApplyError",
           "DataPathError",
           "DataPlane",
           "InvalidState",
           "Preflight",
           "check",
]
