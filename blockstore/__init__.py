"""Cinder v3 compatible volume service (not built yet)."""
