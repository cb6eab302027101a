"""Glance v2 compatible image registry (not built yet)."""
