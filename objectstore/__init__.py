"""Storage node: account, container and object servers on one aiohttp server per
node, plus the daemons that keep replicas converged (see docs/storage-protocol.md)."""
