"""Nova v2.1 compatible compute service.

Built so far: the hypervisor layer (:mod:`compute.virt`: the driver contract, the
in-memory reference driver, the libvirt driver, the image cache and the config
drive), the host setup of libvirtd (:mod:`compute.host`) and the tiny test guest
(:mod:`compute.tinyguest`). The API, scheduler and agent come next.
"""
