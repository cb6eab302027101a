"""The map of Strata services: how each is started, checked and published.

This is the one place that knows which services exist. ``strata up`` starts
the enabled ones, ``strata status`` checks them, and identity publishes their
endpoints in the service catalog from the same entries. A later service joins
by adding a config section and an entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.config import StrataConfig


@dataclass(frozen=True)
class CatalogEntry:
    """One service as the Keystone catalog shows it."""

    type: str
    name: str
    description: str
    path: str = ""  # appended to the service's base URL, e.g. "/v3"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # run as ``python -m <module>``
    section: str  # config section holding enabled/host/port
    health_path: str = "/healthcheck"
    catalog: tuple[CatalogEntry, ...] = field(default=())
    # Debian packages the service needs on its host; ``strata up`` installs
    # the missing ones (apt-get) before starting it.
    debian_packages: tuple[str, ...] = ()
    args: tuple[str, ...] = ()  # extra arguments after ``python -m <module>``
    port: int | None = None  # overrides the section's port (several instances)
    # "module:function" called with the config by ``strata up`` before any
    # service starts (once per distinct hook), e.g. to build missing rings.
    prepare: str = ""
    # A service that may be unable to run on this host (compute without a usable
    # libvirt): when it fails to start, ``strata up`` reports it DOWN with the reason
    # and the rest of the cloud goes on, instead of stopping everything.
    optional: bool = False
    # Further listeners of the service's process, shown by ``strata up``/``status``:
    # (label, the section's host option, its port option), probed at /healthcheck.
    listeners: tuple[tuple[str, str, str], ...] = ()

    def enabled(self, cfg: StrataConfig) -> bool:
        return bool(getattr(getattr(cfg, self.section), "enabled", False))

    def _port(self, cfg: StrataConfig) -> int:
        return self.port if self.port is not None else int(getattr(cfg, self.section).port)

    def base_url(self, cfg: StrataConfig) -> str:
        section = getattr(cfg, self.section)
        public = getattr(section, "public_url", "") if self.port is None else ""
        return (public or f"http://{section.host}:{self._port(cfg)}").rstrip("/")

    def listener_urls(self, cfg: StrataConfig) -> list[tuple[str, str]]:
        """``(label, base URL)`` of each further listener."""
        section = getattr(cfg, self.section)
        return [(label, f"http://{getattr(section, host)}:{getattr(section, port)}")
                for label, host, port in self.listeners]

    def health_url(self, cfg: StrataConfig) -> str:
        section = getattr(cfg, self.section)
        return f"http://{section.host}:{self._port(cfg)}{self.health_path}"


IDENTITY = ServiceSpec(
    name="identity",
    module="identity",
    section="identity",
    catalog=(CatalogEntry("identity", "keystone", "Strata identity (Keystone v3)", "/v3"),),
)

PROXY = ServiceSpec(
    name="proxy",
    module="proxy",
    section="proxy",
    catalog=(CatalogEntry("object-store", "swift", "Strata object store (Swift v1)",
                          "/v1/AUTH_$(project_id)s"),
             CatalogEntry("s3", "s3", "Strata object store (S3 API)")),
    prepare="objectstore.setup:prepare",
)

IMAGESTORE = ServiceSpec(
    name="imagestore",
    module="imagestore",
    section="imagestore",
    catalog=(CatalogEntry("image", "glance", "Strata image service (Glance v2)"),),
    debian_packages=("qemu-utils",),  # qemu-img: inspection help and import conversion
)


BLOCKSTORE = ServiceSpec(
    name="blockstore",
    module="blockstore",
    section="blockstore",
    catalog=(CatalogEntry("volumev3", "cinderv3", "Strata block store (Cinder v3)",
                          "/v3/$(project_id)s"),
             CatalogEntry("block-storage", "cinder", "Strata block store (Cinder v3)",
                          "/v3/$(project_id)s")),
    # tgt: the iSCSI target (the block store runs its own tgtd and stops it at exit);
    # qemu-utils: qemu-img; qemu-system-common: qemu-storage-daemon (raw views of volumes).
    debian_packages=("tgt", "qemu-utils", "qemu-system-common"),
)


NETWORK = ServiceSpec(
    name="network",
    module="network",
    section="network",
    catalog=(CatalogEntry("network", "neutron", "Strata networking (Neutron v2.0)"),),
    # The data path: iproute2 (ip: namespaces, bridges, veths, taps), nftables (security
    # groups, SNAT/DNAT), dnsmasq-base (DHCP in each network's namespace), conntrack
    # (ends flows a security group change no longer allows), procps (sysctl).
    debian_packages=("iproute2", "nftables", "dnsmasq-base", "conntrack", "procps"),
    # Says, before anything starts, which kernel part or tool the data path lacks.
    prepare="network.hostcheck:prepare",
)


COMPUTE = ServiceSpec(
    name="compute",
    module="compute",
    section="compute",
    catalog=(CatalogEntry("compute", "nova", "Strata compute (Nova v2.1)", "/v2.1"),),
    # libvirtd + virtlogd and QEMU (the hypervisor); qemu-utils: qemu-img for the image
    # cache and overlays. The prepare hook starts libvirtd/virtlogd when they are not
    # running (compute/host.py).
    debian_packages=("libvirt-daemon-system", "qemu-system-x86", "qemu-utils"),
    prepare="compute.host:prepare",
    # the websocket bridge to guests' VNC and serial consoles (remote-consoles URLs)
    listeners=(("console proxy", "console_host", "console_port"),),
    optional=True,  # a host without libvirt/QEMU still runs the rest of the cloud
)


EC2 = ServiceSpec(
    name="ec2",
    module="ec2",
    section="ec2",
    catalog=(CatalogEntry("ec2", "ec2", "Strata EC2 front (EC2 Query API)", "/"),),
)


DASHBOARD = ServiceSpec(
    name="dashboard",
    module="dashboard",
    section="dashboard",
    # No catalog entry: people open it in a browser; it is a client of the others.
)


def storage_nodes(cfg: StrataConfig) -> list[ServiceSpec]:
    """One service per local storage node (``python -m objectstore --node N``)."""
    return [
        ServiceSpec(name=f"storage-{n}", module="objectstore", section="objectstore",
                    args=("--node", str(n)), port=cfg.objectstore.port + n - 1,
                    prepare="objectstore.setup:prepare")
        for n in range(1, cfg.objectstore.nodes + 1)
    ]


def all_services(cfg: StrataConfig) -> list[ServiceSpec]:
    """Every service this configuration describes, in start order."""
    return [IDENTITY, *storage_nodes(cfg), PROXY, IMAGESTORE, BLOCKSTORE, NETWORK, COMPUTE,
            EC2, DASHBOARD]


def enabled_services(cfg: StrataConfig) -> list[ServiceSpec]:
    return [s for s in all_services(cfg) if s.enabled(cfg)]


def catalog_entries(cfg: StrataConfig) -> list[tuple[CatalogEntry, str]]:
    """(entry, url) for every catalog entry of every enabled service."""
    out: list[tuple[CatalogEntry, str]] = []
    for spec in enabled_services(cfg):
        for entry in spec.catalog:
            out.append((entry, spec.base_url(cfg) + entry.path))
    return out
