"""Subcommands of ``strata``: every module here exporting ``COMMANDS`` is one or more.

See :mod:`common.cli` for how to add one.
"""
