"""Strata's networking service: Neutron v2.0 compatible API (port 9696) and the
host data path (bridges, taps, DHCP, router namespaces, nftables)."""
