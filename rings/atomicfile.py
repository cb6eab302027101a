"""Atomic, durable file writes (kept for the ring modules; the code is shared)."""

from common.atomicfile import write_atomic

__all__ = ["write_atomic"]
