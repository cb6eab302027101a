"""Functional tests of the block store."""
