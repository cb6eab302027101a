"""Nova v2.1 compatible compute service (not built yet)."""
