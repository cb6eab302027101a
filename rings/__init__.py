"""Consistent-hash rings: an offline builder and a read-only runtime ring (not built yet)."""
