"""Nova v2.1 compatible compute service.

The API (:mod:`compute.api`), the rules behind it (:mod:`compute.core`), the
conductor and scheduler, this host's agent (:mod:`compute.agent`) and the metadata
service run in one process (:mod:`compute.server`), on the hypervisor layer
(:mod:`compute.virt`: the driver contract, the in-memory reference driver, the
libvirt driver, the image cache and the config drive), with the host setup of
libvirtd (:mod:`compute.host`) and the tiny test guest (:mod:`compute.tinyguest`).
"""
