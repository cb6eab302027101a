"""The hypervisor layer: the virt driver contract (:mod:`.driver`), its in-memory
reference (:mod:`.memory`) and libvirt implementation (:mod:`.libvirt`, XML in
:mod:`.domainxml`, KVM probe in :mod:`.kvmprobe`), the host's image cache
(:mod:`.imagecache`) and the config drive (:mod:`.configdrive`)."""
