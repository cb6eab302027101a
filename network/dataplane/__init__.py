"""The host data path: turns a :class:`~network.dataplane.model.DesiredState`
(read from the networking database) into Linux bridges, taps, veths, network
namespaces, dnsmasq instances and nftables rules on this host, and removes what
belongs to nothing. No HTTP and no SQL here."""
