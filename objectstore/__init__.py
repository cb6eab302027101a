"""Storage node: account, container and object servers and their daemons (not built yet)."""
