"""One typed configuration for every Strata service.

Loaded and validated once at start, in this order (later wins):

1. the defaults written beside each option below;
2. the TOML file (``--config``, else ``$STRATA_CONFIG``, else ``strata.toml`` in
   the Strata home directory when it exists);
3. environment variables ``STRATA_<OPTION>`` for top-level options and
   ``STRATA_<SECTION>_<OPTION>`` for options in a section, e.g.
   ``STRATA_IDENTITY_PORT=5001``.

Relative paths are resolved against the Strata home directory
(``$STRATA_HOME``, which ``./strata`` sets to the repository root, else the
current directory). Secrets left empty (passwords, token keys) are generated on
first start and kept in ``<var_dir>/secrets.json`` with mode 0600.

Every option carries its documentation in ``metadata["doc"]``; the sample
``strata.toml`` is checked against these fields by the tests.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
import os
import re
import secrets
import socket
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet

from common.atomicfile import write_atomic


class ConfigError(Exception):
    """The configuration cannot be used; the message says which option and why."""


def opt(default: Any, doc: str) -> Any:
    """A documented option with a default."""
    return field(default=default, metadata={"doc": doc})


@dataclass
class IdentityConfig:
    """The Keystone v3 compatible identity service."""

    enabled: bool = opt(True, "Run the identity service (every other service needs one).")
    host: str = opt("127.0.0.1", "Address the identity service listens on.")
    port: int = opt(5000, "Port the identity service listens on.")
    public_url: str = opt(
        "", "URL clients use to reach identity; empty means http://<host>:<port>."
    )
    database_url: str = opt(
        "",
        "SQLAlchemy URL of the identity database, e.g. postgresql://user:pw@host/strata; "
        "empty means SQLite at <var_dir>/identity.db.",
    )
    token_expiration: int = opt(3600, "Lifetime of a token, in seconds.")
    token_cache_seconds: int = opt(
        30,
        "How long other services trust a validated token before asking identity "
        "again (bounds how late a revocation is seen by them).",
    )
    max_request_body: int = opt(
        114688, "Largest request body accepted, in bytes (Keystone's default)."
    )
    password_hash_time_cost: int = opt(
        3, "Argon2id iterations for password hashes (higher is slower and safer)."
    )
    password_hash_memory_kib: int = opt(65536, "Argon2id memory per password hash, in KiB.")
    admin_user: str = opt("admin", "Name of the cloud administrator created at bootstrap.")
    admin_project: str = opt("admin", "Project the administrator is admin of.")
    admin_password: str = opt(
        "", "Administrator password; empty means generated once and kept in secrets.json."
    )
    demo_user: str = opt("demo", "A non-admin user created at bootstrap ('' to skip).")
    demo_project: str = opt("demo", "Project the demo user is a member of.")
    demo_password: str = opt(
        "", "Demo user password; empty means generated once and kept in secrets.json."
    )
    service_password: str = opt(
        "", "Password of the internal service users; empty means generated once."
    )


@dataclass
class ObjectStoreConfig:
    """The storage nodes: account, container and object servers and their daemons."""

    enabled: bool = opt(True, "Run the local storage nodes.")
    host: str = opt("127.0.0.1", "Address the storage nodes listen on (and publish in rings).")
    port: int = opt(6200, "Port of storage node 1; node N listens on port + N - 1.")
    nodes: int = opt(3, "How many local storage nodes to run (each is its own zone).")
    devices_per_node: int = opt(2, "Devices (directories) per local storage node.")
    devices_dir: str = opt("", "Where node devices live; empty means <var_dir>/objectstore.")
    ring_dir: str = opt("", "Where ring builders and ring files live; empty means <var_dir>/rings.")
    part_power: int = opt(10, "Partition power of rings built at first start (2^N partitions).")
    replicas: int = opt(3, "Replicas of every account, container and object.")
    min_part_hours: int = opt(1, "Hours before a rebalance may move a partition's replica again.")
    hash_path_prefix: str = opt(
        "", "Secret mixed into every placement hash; empty means generated once. Never change "
        "it once data is stored.")
    hash_path_suffix: str = opt(
        "", "Second placement secret; empty means generated once. Never change it either.")
    node_timeout: float = opt(10.0, "Seconds to wait on a node's reply before giving up on it.")
    conn_timeout: float = opt(2.0, "Seconds to wait for a connection to a node.")
    io_threads: int = opt(24, "Threads per node for disk and SQLite work: the removal of "
                              "what a write replaced, SQLite, large writes' fsyncs, and "
                              "every fsync where aio_fsync is off or the kernel has no AIO "
                              "(each waiting write holds one).")
    aio_fsync: bool = opt(True, "Small writes fsync through the kernel's native AIO (Linux "
                                "4.18+), completed on the event loop, instead of on the "
                                "io_threads: no thread hand-off per fsync. Falls back to the "
                                "threads where the kernel has none.")
    replicator_interval: float = opt(30.0, "Seconds between replication passes: each pushes "
                                           "what changed since the peers last took it.")
    replicator_sweep_interval: float = opt(14400.0, "Seconds between replication sweeps over "
                                                  "every database and partition (restoring "
                                                  "what a peer lost; the first pass is one); "
                                                  "0: every pass sweeps.")
    auditor_interval: float = opt(300.0, "Seconds between auditor passes over every object.")
    updater_interval: float = opt(10.0, "Seconds between updater passes: each retries failed "
                                        "container updates and reports the stats of the "
                                        "containers written since the last pass.")
    updater_sweep_interval: float = opt(14400.0, "Seconds between updater sweeps reporting "
                                                 "the stats of every container whose "
                                                 "report is stale (the first pass is one); "
                                                 "0: every pass sweeps.")
    expirer_interval: float = opt(30.0, "Seconds between passes that delete expired objects.")
    reclaim_age: int = opt(604800, "Seconds tombstones are kept before being purged.")
    storage_policies: str = opt(
        "Policy-0, silver:2", "Storage policies, comma-separated name[:replicas] (replicas "
        "defaults to `replicas`): policy N keeps objects on ring object-N.ring.gz (policy 0 "
        "on object.ring.gz), built at first start; a container picks one by "
        "X-Storage-Policy. Append new ones; never reorder or remove one that holds data.")
    default_storage_policy: str = opt(
        "", "Policy of containers created without X-Storage-Policy; empty means the first.")

    def policies(self) -> list[StoragePolicy]:
        """The storage policies, by index (checked by :func:`validate`)."""
        return list(_policies(self.storage_policies, self.replicas,
                              self.default_storage_policy))

    def default_policy(self) -> StoragePolicy:
        return next(p for p in self.policies() if p.default)


@functools.lru_cache(maxsize=32)
def _policies(spec: str, replicas: int, default_name: str) -> tuple[StoragePolicy, ...]:
    """The policies a configuration's three settings describe (parsed once per value:
    the proxy asks on every object write)."""
    out: list[StoragePolicy] = []
    for index, entry in enumerate(p.strip() for p in spec.split(",")):
        name, _, count = entry.partition(":")
        out.append(StoragePolicy(index, name.strip(), int(count) if count.strip() else replicas))
    default = default_name.strip().lower()
    return tuple(dataclasses.replace(p, default=(p.name.lower() == default if default
                                                 else p.index == 0)) for p in out)


@dataclass(frozen=True)
class StoragePolicy:
    """One storage policy: where a container's objects live and how many copies."""

    index: int
    name: str
    replicas: int
    default: bool = False


@dataclass
class ProxyConfig:
    """The Swift v1 (and S3) proxy in front of the storage nodes."""

    enabled: bool = opt(True, "Run the proxy.")
    host: str = opt("127.0.0.1", "Address the proxy listens on.")
    port: int = opt(8080, "Port the proxy listens on.")
    public_url: str = opt("", "URL clients use to reach the proxy; empty means http://<host>:<port>.")
    workers: int = opt(1, "Proxy worker processes, forked once the port is bound: they share "
                          "its one listening socket.")
    max_file_size: int = opt(5368709122, "Largest single object, in bytes (Swift's default).")
    max_meta_count: int = opt(90, "Most metadata items on one account, container or object.")
    max_meta_overall_size: int = opt(4096, "Most bytes of metadata (names and values) in total.")
    container_listing_limit: int = opt(10000, "Default and largest page of a listing.")
    account_autocreate: bool = opt(True, "Create an account on first use by its owner.")
    copy: bool = opt(True, "Server-side copy (COPY, X-Copy-From), as Swift's copy.")
    symlink: bool = opt(True, "Object symlinks (X-Symlink-Target), as Swift's symlink.")
    symloop_max: int = opt(2, "Most symlinks followed in a row by one GET or HEAD.")
    allow_versioned_writes: bool = opt(True, "Object versioning by X-Versions-Location and "
                                             "X-History-Location, as Swift's versioned_writes.")
    bulk: bool = opt(True, "Bulk delete (?bulk-delete) and archive upload (?extract-archive), "
                           "as Swift's bulk.")
    bulk_max_deletes_per_request: int = opt(10000, "Most names in one bulk delete.")
    bulk_max_failed_deletes: int = opt(1000, "Failed deletes that end a bulk delete.")
    bulk_delete_concurrency: int = opt(2, "Deletes of one bulk delete run at once.")
    bulk_max_containers_per_extraction: int = opt(10000, "Most containers one archive upload "
                                                         "may create.")
    bulk_max_failed_extractions: int = opt(1000, "Failed files that end an archive upload.")
    bulk_yield_frequency: int = opt(10, "Seconds between heartbeat spaces of a bulk request.")
    tempurl: bool = opt(True, "Temporary URLs (?temp_url_sig=...), as Swift's tempurl.")
    tempurl_methods: str = opt("GET HEAD PUT POST DELETE",
                               "Methods a temporary URL may be used with (space-separated).")
    tempurl_allowed_digests: str = opt("sha1 sha256 sha512", "Digests temporary URL signatures "
                                       "may use: sha1 (deprecated, but allowed by default as "
                                       "Swift still does), sha256, sha512.")
    formpost: bool = opt(True, "Browser form uploads (multipart/form-data POST), as Swift's "
                               "formpost.")
    formpost_allowed_digests: str = opt("sha1 sha256 sha512", "Digests FormPost signatures "
                                        "may use: sha1 (deprecated, but allowed by default as "
                                        "Swift still does), sha256, sha512.")
    slo: bool = opt(True, "Static Large Objects (?multipart-manifest=put), as Swift's slo.")
    slo_max_manifest_segments: int = opt(1000, "Most object-backed segments in one SLO manifest.")
    slo_max_manifest_size: int = opt(8388608, "Largest SLO manifest body, in bytes.")
    slo_yield_frequency: int = opt(10, "Seconds between heartbeat spaces of a manifest PUT "
                                       "with ?heartbeat=on.")
    dlo: bool = opt(True, "Dynamic Large Objects (X-Object-Manifest), as Swift's dlo.")
    staticweb: bool = opt(True, "Containers served as static web sites (X-Container-Meta-Web-*), "
                                "as Swift's staticweb.")
    staticweb_url_base: str = opt("", "Scheme and host (e.g. https://www.example.com) of "
                                      "StaticWeb's redirects; empty: the request's own Host.")
    cors_allow_origin: str = opt("", "Origins (comma-separated) allowed CORS access to every "
                                     "container, besides each container's own list.")
    cors_expose_headers: str = opt("", "Headers (comma-separated) exposed to CORS clients "
                                       "besides Swift's defaults.")
    strict_cors_mode: bool = opt(True, "Only allowed origins get CORS headers on answers.")
    container_quotas: bool = opt(True, "Container quotas (X-Container-Meta-Quota-Bytes/-Count), "
                                       "as Swift's container_quotas.")
    account_quotas: bool = opt(True, "Account quotas (X-Account-Quota-Bytes/-Count, set by "
                                     "resellers), as Swift's account_quotas.")
    s3_domain: str = opt("", "Domain of S3 virtual-hosted-style requests: a request to "
                             "<bucket>.<domain> is for that bucket (path style always works).")
    allow_open_expired: bool = opt(False, "Let a client read (GET/HEAD) and POST to an object "
                                          "whose X-Delete-At has passed but that the expirer "
                                          "has not deleted yet, with X-Open-Expired: true.")
    etag_quoter: bool = opt(True, "Quoted (RFC 7232) ETags for accounts and containers that "
                                  "ask for them (X-Account/-Container-Rfc-Compliant-Etags), "
                                  "as Swift's etag_quoter.")
    etag_quoter_enable_by_default: bool = opt(False, "Quote ETags where neither the container "
                                                     "nor its account says otherwise.")
    storage_domain: str = opt("", "Domain of Swift's domain_remap (comma-separated for "
                                  "several): a request to <container>.<account>.<domain> or "
                                  "<account>.<domain> (AUTH-<id> for AUTH_<id>) is for that "
                                  "container or account, StaticWeb sites included; empty: "
                                  "off. Must differ from s3_domain.")
    domain_remap_default_reseller_prefix: str = opt(
        "", "Reseller prefix domain_remap puts before an account named in a host without one "
            "(e.g. AUTH); empty: such hosts are not remapped.")


@dataclass
class ImageStoreConfig:
    """The Glance v2 compatible image service."""

    enabled: bool = opt(True, "Run the image service.")
    host: str = opt("127.0.0.1", "Address the image service listens on.")
    port: int = opt(9292, "Port the image service listens on.")
    public_url: str = opt("", "URL clients use to reach the image service; empty means "
                              "http://<host>:<port>.")
    database_url: str = opt("", "SQLAlchemy URL of the image database; empty means SQLite at "
                                "<var_dir>/imagestore.db.")
    store: str = opt("swift", "Where image data lives: 'swift' (the object store, in the "
                              "service project's account) or 'file' (a local directory).")
    file_store_dir: str = opt("", "Directory of the 'file' store; empty means "
                                  "<var_dir>/imagestore/images.")
    swift_container: str = opt("images", "Container (in the service project's account) "
                                         "holding image data in the 'swift' store.")
    segment_size: int = opt(1073741824, "Segment size of images in the object store (at "
                                        "most 1000 segments per image: 1 GiB allows 1000 GiB).")
    staging_dir: str = opt("", "Where interoperable import stages data; empty means "
                               "<var_dir>/imagestore/staging.")
    max_image_size: int = opt(1099511627776, "Largest image accepted, in bytes (1 TiB).")
    max_request_body: int = opt(65536, "Largest JSON request body accepted, in bytes.")
    image_count_quota: int = opt(-1, "Most images a project may own; -1 is unlimited.")
    image_size_quota: int = opt(-1, "Most bytes of image data (stored and staged) a project "
                                    "may hold; -1 is unlimited.")
    web_download: bool = opt(False, "Offer the 'web-download' import method (the service "
                                    "fetches a URL).")
    web_download_allowed: str = opt(
        "", "URL prefixes (space-separated) web-download may fetch from, e.g. "
            "https://images.example.com/; empty allows none.")
    import_convert_to: str = opt("", "Disk format images are converted to on import "
                                     "(e.g. raw); empty keeps them as uploaded.")
    show_locations: bool = opt(False, "Show image locations (direct_url, locations) to "
                                      "admins, as Glance's show_multiple_locations.")


@dataclass
class BlockStoreConfig:
    """The Cinder v3 compatible block store: volume API and volume manager."""

    enabled: bool = opt(True, "Run the block store (volume API, volume manager, tgtd).")
    host: str = opt("127.0.0.1", "Address the volume API listens on.")
    port: int = opt(8776, "Port the volume API listens on.")
    public_url: str = opt("", "URL clients use to reach the volume API; empty means "
                              "http://<host>:<port>.")
    database_url: str = opt("", "SQLAlchemy URL of the volume database; empty means SQLite at "
                                "<var_dir>/blockstore.db.")
    backend: str = opt("file", "Where volume data lives: 'file' (qcow2 files made with "
                               "qemu-img) or 'memory' (lost at exit; for trying the API).")
    volumes_dir: str = opt("", "Directory of the 'file' backend; empty means <var_dir>/volumes.")
    target_driver: str = opt("", "iSCSI target driver: 'tgt', 'lio' or empty (LIO where "
                                 "configfs exists, else tgt).")
    iscsi_ip: str = opt("127.0.0.1", "Address of the iSCSI portal initiators connect to.")
    iscsi_port: int = opt(3260, "Port of the iSCSI portal.")
    tgtd_control_port: int = opt(0, "tgtd's control port (-C, its management socket); 0 "
                                    "means the same number as iscsi_port.")
    manage_tgtd: bool = opt(True, "The block store starts its own tgtd (and stops it at "
                                  "exit); false uses a tgtd run by the system.")
    target_check_interval: float = opt(5.0, "Seconds between checks that every attached "
                                            "volume is still exported (tgtd restarts).")
    default_volume_type: str = opt("__DEFAULT__", "Volume type of volumes created without "
                                                  "one (created at start).")
    availability_zone: str = opt("nova", "The availability zone of this storage host.")
    quota_volumes: int = opt(10, "Default most volumes per project; -1 is unlimited.")
    quota_gigabytes: int = opt(1000, "Default most GiB of volumes and snapshots per project.")
    quota_snapshots: int = opt(10, "Default most snapshots per project.")
    quota_backups: int = opt(10, "Default most backups per project.")
    quota_backup_gigabytes: int = opt(1000, "Default most GiB of backups per project.")
    quota_per_volume_gigabytes: int = opt(-1, "Default largest size of one volume, in GiB; "
                                              "-1 is unlimited.")
    quota_groups: int = opt(10, "Default most volume groups per project.")
    message_ttl: int = opt(2592000, "Seconds a user message (what a failed asynchronous "
                                    "operation tells its project) is kept.")
    backup_container: str = opt("volumebackups", "Object store container (in the service "
                                                 "project's account) holding volume backups.")
    backup_chunk_mib: int = opt(32, "Size of the pieces a backup cuts a volume into, in MiB "
                                    "(an incremental backup stores only pieces that changed).")
    max_request_body: int = opt(114688, "Largest JSON request body accepted, in bytes.")


@dataclass
class NetworkConfig:
    """The Neutron v2.0 compatible networking service and this host's network agent."""

    enabled: bool = opt(True, "Run the networking service (its API and this host's agent).")
    host: str = opt("127.0.0.1", "Address the networking API listens on.")
    port: int = opt(9696, "Port the networking API listens on.")
    public_url: str = opt("", "URL clients use to reach the networking API; empty means "
                              "http://<host>:<port>.")
    database_url: str = opt("", "SQLAlchemy URL of the networking database; empty means SQLite "
                                "at <var_dir>/network.db.")
    dataplane: bool = opt(True, "Run this host's data path (bridges, taps, dnsmasq, router "
                                "namespaces, nftables), converged from the database; false "
                                "runs the API alone.")
    agent_host: str = opt("", "This hypervisor's name as ports are bound to it "
                              "(binding:host_id); empty means the machine's host name.")
    instance: str = opt("", "Short tag (1-4 of a-z, 0-9) in the name of every namespace and "
                            "device this cloud makes on the host, so two clouds on one machine "
                            "never touch each other's; empty means derived from var_dir.")
    resync_interval: float = opt(60.0, "Seconds between full resyncs of the data path with the "
                                       "database (changes made through the API apply at once).")
    bootstrap: bool = opt(True, "At first start create the external network 'public' and, for "
                                "the demo project, 'private' with a subnet and 'router1' to "
                                "'public', as devstack does.")
    external_network_cidr: str = opt(
        "172.24.4.0/24", "CIDR of the external network 'public' (router gateways and floating "
                         "IPs come from it). It lives in a namespace of this cloud's own, never "
                         "on the machine's interfaces.")
    private_network_cidr: str = opt("10.0.0.0/26", "CIDR of the demo project's subnet of "
                                                   "'private'.")
    global_mtu: int = opt(1500, "MTU of new networks, and the largest one a network may ask for.")
    base_mac: str = opt("fa:16:3e:00:00:00", "Ports' MAC addresses keep the first three bytes "
                                             "of this; the rest is random.")
    quota_network: int = opt(100, "Default most networks per project; -1 is unlimited.")
    quota_subnet: int = opt(100, "Default most subnets per project.")
    quota_subnetpool: int = opt(-1, "Default most subnet pools per project.")
    quota_port: int = opt(500, "Default most ports per project.")
    quota_router: int = opt(10, "Default most routers per project.")
    quota_floatingip: int = opt(50, "Default most floating IPs per project.")
    quota_security_group: int = opt(10, "Default most security groups per project.")
    quota_security_group_rule: int = opt(100, "Default most security group rules per project.")
    max_request_body: int = opt(114688, "Largest JSON request body accepted, in bytes.")


@dataclass
class ComputeConfig:
    """The Nova v2.1 compatible compute service and this host's hypervisor (libvirt)."""

    enabled: bool = opt(True, "Run the compute service (its API, the metadata service and "
                              "this host's compute agent). A host where libvirt cannot run "
                              "shows it DOWN with the reason; the rest of the cloud runs.")
    host: str = opt("127.0.0.1", "Address the compute API listens on.")
    port: int = opt(8774, "Port the compute API listens on.")
    public_url: str = opt("", "URL clients use to reach the compute API; empty means "
                              "http://<host>:<port>.")
    database_url: str = opt("", "SQLAlchemy URL of the compute database; empty means SQLite "
                                "at <var_dir>/compute.db.")
    metadata_host: str = opt("127.0.0.1", "Address the metadata service listens on (besides "
                                          "its UNIX socket).")
    metadata_port: int = opt(8775, "Port of the metadata service guests reach at "
                                   "169.254.169.254.")
    metadata_socket: str = opt("", "UNIX socket of the metadata service, where the network "
                                   "data path's metadata proxies send guests' requests; empty "
                                   "means <var_dir>/run/compute-metadata.sock.")
    console_host: str = opt("127.0.0.1", "Address the console proxy listens on (the "
                                         "websocket bridge to guests' VNC and serial "
                                         "consoles).")
    console_port: int = opt(6080, "Port of the console proxy.")
    console_public_url: str = opt("", "URL clients reach the console proxy at (console URLs "
                                      "start with it); empty means "
                                      "http://<console_host>:<console_port>.")
    console_token_ttl: int = opt(600, "Seconds a console URL's one-time token stays valid.")
    novnc_dir: str = opt("/usr/share/novnc", "Directory of noVNC's web client (Debian's "
                                             "novnc package), served by the console proxy "
                                             "at /vnc_lite.html when it exists.")
    availability_zone: str = opt("nova", "Availability zone of this compute host (and of "
                                         "servers that ask for none).")
    agent: bool = opt(True, "Run this host's compute agent (it drives libvirt) in the compute "
                            "service; false runs the API, scheduler and metadata service only.")
    agent_host: str = opt("", "This hypervisor's host name, as servers and ports are bound to "
                              "it; empty means the machine's host name (as the network agent "
                              "names it).")
    report_interval: float = opt(10.0, "Seconds between the agent's reports of its host's "
                                       "resources (its service heartbeat).")
    service_down_time: float = opt(60.0, "A compute service not heard from for this long is "
                                         "down: the scheduler places nothing on it.")
    resync_interval: float = opt(10.0, "Seconds between the agent's checks of every guest's "
                                       "power state against the database.")
    shutdown_timeout: float = opt(60.0, "Seconds a guest gets to shut down cleanly (ACPI) on "
                                        "stop or soft reboot before it is powered off.")
    shelve_offload: bool = opt(True, "Offload a shelved server at once: its guest and "
                                     "local disk leave the host (Nova's "
                                     "shelved_offload_time 0); false keeps it SHELVED on "
                                     "its host until shelveOffload.")
    max_concurrent_builds: int = opt(10, "Servers one agent builds at once.")
    cpu_allocation_ratio: float = opt(16.0, "Virtual CPUs the scheduler places per host CPU.")
    ram_allocation_ratio: float = opt(1.5, "Guest memory the scheduler places per MiB of "
                                           "host memory.")
    disk_allocation_ratio: float = opt(1.0, "Guest disk the scheduler places per GiB of the "
                                            "instances directory's file system.")
    reserved_host_memory_mb: int = opt(512, "Host memory (MiB) kept for the host itself.")
    reserved_host_disk_mb: int = opt(0, "Disk (MiB) of the instances file system kept for "
                                        "the host.")
    enable_instance_password: bool = opt(True, "Answer a generated adminPass on server "
                                               "create and rebuild, as Nova does.")
    force_config_drive: bool = opt(False, "Give every server a config drive, asked for or not.")
    quota_instances: int = opt(10, "Default most servers per project; -1 is unlimited.")
    quota_cores: int = opt(20, "Default most vCPUs per project.")
    quota_ram: int = opt(51200, "Default most MiB of server memory per project.")
    quota_key_pairs: int = opt(100, "Default most key pairs per user.")
    quota_metadata_items: int = opt(128, "Default most metadata items per server.")
    quota_server_groups: int = opt(10, "Default most server groups per project.")
    quota_server_group_members: int = opt(10, "Default most servers per server group.")
    quota_injected_files: int = opt(5, "Default most personality files per server.")
    quota_injected_file_content_bytes: int = opt(10240, "Default largest personality file.")
    quota_injected_file_path_bytes: int = opt(255, "Default longest personality file path.")
    max_request_body: int = opt(114688, "Largest JSON request body accepted, in bytes.")
    virt_driver: str = opt("libvirt", "Hypervisor driver of this host's agent: 'libvirt' "
                                      "(QEMU/KVM guests) or 'memory' (no guests run: "
                                      "for trying the API, and its tests).")
    libvirt_uri: str = opt("qemu:///system", "libvirtd connection URI.")
    virt_type: str = opt("auto", "Domain type: 'kvm', 'qemu' (TCG emulation) or 'auto' "
                                 "(KVM when a short probe boots fast enough, else qemu).")
    kvm_probe_timeout: float = opt(5.0, "Seconds the KVM probe may take before KVM is "
                                        "judged unusable (nested KVM can be slower than TCG).")
    domain_prefix: str = opt("", "Prefix of this cloud's libvirt domain names; the compute "
                                 "agent never touches other domains. Empty means 'strata-' "
                                 "and four hex digits of a hash of var_dir (two clouds on one "
                                 "machine differ).")
    instances_dir: str = opt("", "Instance disks, config drives and console logs; empty "
                                 "means <var_dir>/compute/instances.")
    image_cache_dir: str = opt("", "Base images cached on this host; empty means "
                                   "<var_dir>/compute/images.")
    image_cache_format: str = opt("qcow2", "Format base images are converted to in the "
                                           "cache: qcow2 or raw.")
    qemu_as_root: bool = opt(True, "Run guests' QEMU as root (libvirt's DAC label +0:+0), "
                                   "so it reaches files under any directory; false runs it "
                                   "as libvirt-qemu, which needs the instances and image "
                                   "cache directories readable by that user.")


@dataclass
class Ec2Config:
    """The EC2 Query API: a second front on the block store, image, networking and
    compute services (never a second copy of their logic)."""

    enabled: bool = opt(True, "Run the EC2 front (EC2 Query API, for boto3's ec2 client "
                              "and the aws CLI, with EC2 credentials from identity).")
    host: str = opt("127.0.0.1", "Address the EC2 front listens on.")
    port: int = opt(8788, "Port the EC2 front listens on.")
    public_url: str = opt("", "URL clients use to reach the EC2 front; empty means "
                              "http://<host>:<port>.")
    database_url: str = opt("", "SQLAlchemy URL of the EC2 front's database (its ids and "
                                "tags); empty means SQLite at <var_dir>/ec2.db.")
    external_network: str = opt("public", "External network elastic IP addresses are "
                                          "allocated from; empty means the first one.")
    max_request_body: int = opt(262144, "Largest request body accepted, in bytes.")


@dataclass
class DashboardConfig:
    """The web dashboard: a client of the public APIs with each user's own token."""

    enabled: bool = opt(True, "Run the web dashboard.")
    host: str = opt("127.0.0.1", "Address the dashboard listens on.")
    port: int = opt(8000, "Port the dashboard listens on.")
    public_url: str = opt("", "URL people open the dashboard at; empty means "
                              "http://<host>:<port>.")
    secure_cookies: bool = opt(False, "Mark cookies Secure even when a request reaches the "
                                      "dashboard over plain HTTP: for a dashboard behind a "
                                      "proxy that terminates TLS (over TLS they always are).")
    session_idle_timeout: int = opt(3600, "Seconds of inactivity after which a session ends "
                                          "(it also ends when its token expires).")
    max_sessions: int = opt(10000, "Most sessions kept at once; the least recently used goes "
                                   "first.")
    max_upload_size: int = opt(53687091200, "Largest file uploaded through the dashboard "
                                            "(images, objects), in bytes (50 GiB).")
    page_size: int = opt(1000, "Most rows one page of a long list shows (objects, "
                               "volumes, images); the rest is on the next pages.")


@dataclass
class StrataConfig:
    """Top-level options, plus one section per service."""

    var_dir: str = opt("var", "Directory holding all state: databases, data, logs, secrets.")
    region: str = opt("RegionOne", "Region name published in the service catalog.")
    log_level: str = opt("INFO", "Python log level for every service (DEBUG, INFO, WARNING).")
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    objectstore: ObjectStoreConfig = field(default_factory=ObjectStoreConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    imagestore: ImageStoreConfig = field(default_factory=ImageStoreConfig)
    blockstore: BlockStoreConfig = field(default_factory=BlockStoreConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    ec2: Ec2Config = field(default_factory=Ec2Config)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)

    # Filled in by load(); not options.
    home: Path = field(default=Path("."), metadata={"internal": True})
    secrets: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})

    @property
    def var_path(self) -> Path:
        return resolve(self.home, self.var_dir)

    def identity_url(self) -> str:
        return _public_url(self.identity)

    def identity_db_url(self) -> str:
        return self.identity.database_url or self._sqlite("identity.db")

    @property
    def devices_path(self) -> Path:
        default = str(self.var_path / "objectstore")
        return resolve(self.home, self.objectstore.devices_dir or default)

    @property
    def ring_path(self) -> Path:
        return resolve(self.home, self.objectstore.ring_dir or str(self.var_path / "rings"))

    def proxy_url(self) -> str:
        return _public_url(self.proxy)

    def imagestore_url(self) -> str:
        return _public_url(self.imagestore)

    def imagestore_db_url(self) -> str:
        return self.imagestore.database_url or self._sqlite("imagestore.db")

    def blockstore_url(self) -> str:
        return _public_url(self.blockstore)

    def blockstore_db_url(self) -> str:
        return self.blockstore.database_url or self._sqlite("blockstore.db")

    def compute_url(self) -> str:
        return _public_url(self.compute)

    def compute_db_url(self) -> str:
        return self.compute.database_url or self._sqlite("compute.db")

    @property
    def metadata_socket_path(self) -> Path:
        """Where the metadata service listens for the network data path's proxies."""
        default = str(self.var_path / "run" / "compute-metadata.sock")
        return resolve(self.home, self.compute.metadata_socket or default)

    def compute_agent_host(self) -> str:
        return self.compute.agent_host or socket.gethostname()

    def domain_prefix(self) -> str:
        """The prefix of this cloud's libvirt domains: configured, or ``strata-`` and four
        hex digits of a hash of the state directory (two clouds on one machine differ)."""
        if self.compute.domain_prefix:
            return self.compute.domain_prefix
        return f"strata-{self._state_tag()}-"

    @property
    def instances_path(self) -> Path:
        default = str(self.var_path / "compute" / "instances")
        return resolve(self.home, self.compute.instances_dir or default)

    @property
    def image_cache_path(self) -> Path:
        default = str(self.var_path / "compute" / "images")
        return resolve(self.home, self.compute.image_cache_dir or default)

    def ec2_url(self) -> str:
        return _public_url(self.ec2)

    def ec2_db_url(self) -> str:
        return self.ec2.database_url or self._sqlite("ec2.db")

    def dashboard_url(self) -> str:
        return _public_url(self.dashboard)

    def network_url(self) -> str:
        return _public_url(self.network)

    def network_db_url(self) -> str:
        return self.network.database_url or self._sqlite("network.db")

    def _sqlite(self, name: str) -> str:
        """The URL of the embedded SQLite database ``name`` in the state directory."""
        return f"sqlite:///{self.var_path / name}"

    def _state_tag(self) -> str:
        """Four hex digits of a hash of the state directory (two clouds on one machine
        differ)."""
        return hashlib.sha256(str(self.var_path.resolve()).encode()).hexdigest()[:4]

    def network_instance(self) -> str:
        """The tag in the names of this cloud's host devices: configured, or four hex
        digits of a hash of the state directory (so two clouds on one machine differ)."""
        return self.network.instance or self._state_tag()

    def network_agent_host(self) -> str:
        return self.network.agent_host or socket.gethostname()

    def hash_prefix(self) -> bytes:
        return str(self.secrets["hash_path_prefix"]).encode()

    def hash_suffix(self) -> bytes:
        return str(self.secrets["hash_path_suffix"]).encode()


def resolve(home: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (home / p)


def option_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The documented options of a config dataclass (internal fields left out)."""
    return [
        f for f in dataclasses.fields(cls) if not f.metadata.get("internal")
    ]


def section_types() -> dict[str, type]:
    """Section name -> dataclass, for every ``[section]`` of the config file."""
    hints = typing.get_type_hints(StrataConfig)
    return {
        f.name: hints[f.name]
        for f in option_fields(StrataConfig)
        if dataclasses.is_dataclass(hints[f.name])
    }


T = TypeVar("T")


def _coerce(value: Any, typ: Any, where: str) -> Any:
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected an integer, got {value!r}") from None
    if typ is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    origin = typing.get_origin(typ)
    if origin is list:
        (item,) = typing.get_args(typ)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, item, where) for v in value]
    if isinstance(typ, types.UnionType):
        raise ConfigError(f"{where}: unsupported option type {typ}")
    raise ConfigError(f"{where}: unsupported option type {typ}")


def _apply(obj: Any, values: dict[str, Any], where: str, env_prefix: str) -> None:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in option_fields(type(obj))}
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}: unknown option {key!r}")
    for f in option_fields(type(obj)):
        typ = hints[f.name]
        if dataclasses.is_dataclass(typ):
            continue
        env_name = f"{env_prefix}{f.name.upper()}"
        if env_name in os.environ:
            setattr(obj, f.name, _coerce(os.environ[env_name], typ, f"${env_name}"))
        elif f.name in values:
            setattr(obj, f.name, _coerce(values[f.name], typ, f"{where}.{f.name}"))


def strata_home() -> Path:
    return Path(os.environ.get("STRATA_HOME") or os.getcwd()).resolve()


def config_path(explicit: str | None = None, home: Path | None = None) -> Path | None:
    """Which config file load() reads, or None when there is none."""
    if explicit:
        return Path(explicit)
    if os.environ.get("STRATA_CONFIG"):
        return Path(os.environ["STRATA_CONFIG"])
    candidate = (home or strata_home()) / "strata.toml"
    return candidate if candidate.exists() else None


def load(path: str | None = None, *, with_secrets: bool = True) -> StrataConfig:
    """Read, merge and validate the configuration; create secrets if asked."""
    home = strata_home()
    cfg = StrataConfig(home=home)
    data: dict[str, Any] = {}
    cpath = config_path(path, home)
    if cpath is not None:
        try:
            data = tomllib.loads(cpath.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {cpath} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cpath}: not valid TOML: {exc}") from None
    sections = section_types()
    top = {k: v for k, v in data.items() if k not in sections}
    _apply(cfg, top, str(cpath or "config"), "STRATA_")
    for name in sections:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{cpath}: [{name}] must be a table")
        _apply(getattr(cfg, name), raw, f"[{name}]", f"STRATA_{name.upper()}_")
    validate(cfg)
    if with_secrets:
        cfg.secrets = ensure_secrets(cfg)
    return cfg


def validate(cfg: StrataConfig) -> None:
    for name in section_types():
        section = getattr(cfg, name)
        port = getattr(section, "port", None)
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"[{name}] port {port} is out of range 0-65535")
    if not 1 <= cfg.objectstore.nodes <= 64 or cfg.objectstore.devices_per_node < 1:
        raise ConfigError("[objectstore] needs 1-64 nodes with at least one device each")
    n_devices = cfg.objectstore.nodes * cfg.objectstore.devices_per_node
    if not 1 <= cfg.objectstore.replicas <= n_devices:
        raise ConfigError("[objectstore] replicas must be between 1 and the number of devices")
    if not 4 <= cfg.objectstore.part_power <= 22:
        raise ConfigError("[objectstore] part_power must be between 4 and 22")
    _validate_policies(cfg.objectstore, n_devices)
    if cfg.identity.token_expiration < 60:
        raise ConfigError("[identity] token_expiration must be at least 60 seconds")
    if cfg.imagestore.store not in ("swift", "file"):
        raise ConfigError(f"[imagestore] store {cfg.imagestore.store!r}: use swift or file")
    if cfg.blockstore.backend not in ("file", "memory"):
        raise ConfigError(f"[blockstore] backend {cfg.blockstore.backend!r}: use file or memory")
    if cfg.blockstore.target_driver not in ("", "tgt", "lio"):
        raise ConfigError(f"[blockstore] target_driver {cfg.blockstore.target_driver!r}: "
                          "use tgt, lio or leave it empty")
    if cfg.compute.virt_type not in ("auto", "kvm", "qemu"):
        raise ConfigError(f"[compute] virt_type {cfg.compute.virt_type!r}: use auto, kvm or qemu")
    if cfg.compute.image_cache_format not in ("qcow2", "raw"):
        raise ConfigError(f"[compute] image_cache_format {cfg.compute.image_cache_format!r}: "
                          "use qcow2 or raw")
    _validate_compute(cfg.compute)
    _validate_network(cfg.network)
    if cfg.dashboard.session_idle_timeout < 60:
        raise ConfigError("[dashboard] session_idle_timeout must be at least 60 seconds")
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"log_level {cfg.log_level!r}: use DEBUG, INFO, WARNING or ERROR")


def _validate_compute(c: ComputeConfig) -> None:
    for name in ("metadata_port", "console_port"):
        if not 0 <= getattr(c, name) <= 65535:
            raise ConfigError(f"[compute] {name} {getattr(c, name)} is out of range 0-65535")
    if c.console_token_ttl < 1:
        raise ConfigError("[compute] console_token_ttl must be at least 1 second")
    if c.domain_prefix and not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", c.domain_prefix):
        raise ConfigError(f"[compute] domain_prefix {c.domain_prefix!r}: 1-40 letters, "
                          "digits, '_', '.', '-'")
    if not c.availability_zone or ":" in c.availability_zone:
        raise ConfigError(f"[compute] availability_zone {c.availability_zone!r}: a name "
                          "without ':'")
    for name in ("cpu_allocation_ratio", "ram_allocation_ratio", "disk_allocation_ratio",
                 "report_interval", "resync_interval", "service_down_time"):
        if getattr(c, name) <= 0:
            raise ConfigError(f"[compute] {name} must be positive")
    if c.virt_driver not in ("libvirt", "memory"):
        raise ConfigError(f"[compute] virt_driver {c.virt_driver!r}: use libvirt or memory")
    if c.max_concurrent_builds < 1 or c.shutdown_timeout < 0:
        raise ConfigError("[compute] max_concurrent_builds must be at least 1 and "
                          "shutdown_timeout not negative")


def _validate_policies(osc: ObjectStoreConfig, n_devices: int) -> None:
    """Swift's rules for policies: names of letters, digits and ``-``, unique without
    regard to case; replicas that the devices can hold; a default that exists."""
    where = "[objectstore] storage_policies"
    seen: set[str] = set()
    for entry in osc.storage_policies.split(","):
        name, _, count = entry.strip().partition(":")
        name = name.strip()
        if not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
            raise ConfigError(f"{where}: bad policy name {name!r} (letters, digits and -)")
        if name.lower() in seen:
            raise ConfigError(f"{where}: {name!r} is there twice")
        seen.add(name.lower())
        if count.strip() and not (count.strip().isdigit()
                                  and 1 <= int(count) <= n_devices):
            raise ConfigError(f"{where}: {name}: replicas must be between 1 and the number "
                              "of devices")
    default = osc.default_storage_policy.strip().lower()
    if default and default not in seen:
        raise ConfigError(f"[objectstore] default_storage_policy {default!r} is no policy")


def _validate_network(net: NetworkConfig) -> None:
    if net.instance and not re.fullmatch(r"[a-z0-9]{1,4}", net.instance):
        raise ConfigError(f"[network] instance {net.instance!r}: use 1-4 of a-z and 0-9")
    for name in ("external_network_cidr", "private_network_cidr"):
        value = getattr(net, name)
        try:
            cidr = ipaddress.ip_network(value)
        except ValueError:
            raise ConfigError(f"[network] {name} {value!r} is not a network CIDR") from None
        if cidr.version != 4 or cidr.prefixlen > 29:
            raise ConfigError(f"[network] {name} {value!r}: use an IPv4 network of /29 or "
                              "larger")
    if not 68 <= net.global_mtu <= 65535:
        raise ConfigError(f"[network] global_mtu {net.global_mtu} is out of range 68-65535")
    if not re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", net.base_mac.lower()) or \
            int(net.base_mac[:2], 16) & 1:
        raise ConfigError(f"[network] base_mac {net.base_mac!r} is not a unicast MAC address")
    if net.resync_interval <= 0:
        raise ConfigError("[network] resync_interval must be positive")


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only, atomically and durably."""
    write_atomic(path, text.encode(), mode=0o600)


def ensure_secrets(cfg: StrataConfig) -> dict[str, Any]:
    """Load ``<var_dir>/secrets.json``, generating what is missing (mode 0600).

    Config options (and so environment variables) override stored passwords.
    """
    var = cfg.var_path
    var.mkdir(parents=True, exist_ok=True)
    path = var / "secrets.json"
    stored: dict[str, Any] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is corrupt ({exc}); restore it from backup") from None
    changed = False
    defaults: dict[str, Any] = {
        "admin_password": lambda: secrets.token_urlsafe(18),
        "demo_password": lambda: secrets.token_urlsafe(18),
        "service_password": lambda: secrets.token_urlsafe(24),
        "token_keys": lambda: [Fernet.generate_key().decode()],
        "credential_keys": lambda: [Fernet.generate_key().decode()],
        "hash_path_prefix": lambda: secrets.token_hex(8),
        "hash_path_suffix": lambda: secrets.token_hex(8),
    }
    for key, make in defaults.items():
        if key not in stored:
            stored[key] = make()
            changed = True
    if changed or (path.stat().st_mode & 0o077):
        _write_private(path, json.dumps(stored, indent=2) + "\n")
    result = dict(stored)
    for key in ("admin_password", "demo_password", "service_password"):
        explicit = getattr(cfg.identity, key)
        if explicit:
            result[key] = explicit
    for key in ("hash_path_prefix", "hash_path_suffix"):
        explicit = getattr(cfg.objectstore, key)
        if explicit:
            result[key] = explicit
    return result


def _public_url(section: Any) -> str:
    """A service section's public URL: configured, or ``http://<host>:<port>``."""
    return str(section.public_url or f"http://{section.host}:{section.port}").rstrip("/")
