"""Disk images, shared by every service that accepts or opens them.

The image store inspects uploads with it, the block store checks an image
again before it converts it into a volume, and compute will before it boots
one. Nothing here imports a service: only ``common``.

- ``inspector``: the streaming format inspector (``ImageInspector``), with
  one module per format family under ``formats/``;
- ``qemu``: ``qemu-img`` under resource limits, always with an explicit format;
- ``qmp``: a minimal QMP client for qemu processes (storage daemons, VMs).
"""


