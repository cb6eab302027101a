"""One module per image format family: each reads a ``Capture`` and answers ``Findings``."""
