"""Can this host carry the data path? ``check()`` tries every kernel part and
tool the data path uses, in a throwaway namespace, and says precisely which
is missing, so that the service can refuse to start the data path with that
message (the API still runs).
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass

from network.dataplane.errors import DataPathError
from network.dataplane.run import ip, nft, run

# tool -> the Debian package that has it
TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "dnsmasq": "dnsmasq-base",
    "conntrack": "conntrack",
    "sysctl": "procps",
}
DEBIAN_PACKAGES = tuple(sorted(set(TOOLS.values())))

BR_NETFILTER = "/proc/sys/net/bridge/bridge-nf-call-iptables"

# What the data path's rulesets use, one probe per kernel part so that the
# report names the part.
NFT_PROBES = (
    ("nftables bridge family (CONFIG_NF_TABLES_BRIDGE)", """
table bridge p {
  chain c {
    type filter hook forward priority 0; policy accept;
  }
}"""),
    ("nftables concatenated interval sets (kernel 5.6 or later)", """
table bridge p {
  set s {
    type ifname . ether_addr . ipv4_addr; flags interval;
    elements = { "t" . 02:00:00:00:00:01 . 10.0.0.0/24 }
  }
  chain c {
    type filter hook prerouting priority -300; policy accept;
    iifname . ether saddr . ip saddr != @s drop
  }
}"""),
    ("nftables verdict maps and packet marks", """
table bridge p {
  map m {
    type ifname : verdict; elements = { "t" : jump d }
  }
  chain d {
    meta mark 1 accept
  }
  chain c {
    type filter hook prerouting priority 100; policy accept;
    iifname vmap @m
  }
}"""),
    ("nftables inet family with connection tracking and zones "
     "(CONFIG_NF_TABLES_INET, CONFIG_NFT_CT, CONFIG_NF_CONNTRACK_ZONES)", """
table inet p {
  map z {
    typeof iifname : ct zone; elements = { "b" : 5 }
  }
  chain r {
    type filter hook prerouting priority raw; policy accept;
    ct zone set iifname map @z
  }
  chain s {
    type filter hook prerouting priority -150; policy accept;
    meta mark set ct state map { new : 1, established : 2, related : 2, invalid : 3, untracked : 4 }
  }
}"""),
    ("nftables NAT (CONFIG_NFT_NAT, CONFIG_NFT_MASQ)", """
table ip p {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 192.0.2.1 dnat to 10.0.0.1
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.0.0.1 snat to 192.0.2.1
    ct status dnat masquerade
  }
}"""),
)
BRIDGE_CT_PROBE = """
table bridge q {
  chain c {
    type filter hook forward priority 0; policy accept;
    ct state established accept
  }
}"""


@dataclass(frozen=True)
class Preflight:
    missing: tuple[str, ...]  # each a kernel part or tool the data path cannot work without
    notes: tuple[str, ...] = ()  # what is absent but worked around

    @property
    def ok(self) -> bool:
        return not self.missing

    def message(self) -> str:
        if self.ok:
            return "the data path has every kernel part and tool it needs" + (
                f" ({'; '.join(self.notes)})" if self.notes else "")
        return "the data path cannot run on this host: missing " + "; ".join(self.missing)


async def check() -> Preflight:
    missing: list[str] = []
    notes: list[str] = []
    if os.geteuid() != 0:
        missing.append("root privileges (CAP_NET_ADMIN and CAP_SYS_ADMIN for namespaces)")
    absent = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items()
              if shutil.which(tool) is None]
    missing += [f"the tool {a}" for a in absent]
    if missing:
        return Preflight(tuple(missing))
    if not await _ok(["dnsmasq", "--test", "--conf-file=/dev/null"]):
        missing.append("a working dnsmasq (dnsmasq --test failed)")
    if not await _ok(["ip", "-j", "link", "show", "lo"]):
        missing.append("an iproute2 with JSON output (ip -j)")
    if not _present(BR_NETFILTER):
        await _ok(["modprobe", "br_netfilter"])
        if not _present(BR_NETFILTER):
            missing.append("bridge netfilter (br_netfilter, CONFIG_BRIDGE_NETFILTER): "
                           "security groups need connection tracking of bridged traffic")
    if not _present("/dev/net/tun"):
        missing.append("tun/tap (/dev/net/tun, CONFIG_TUN)")

    ns = f"strata-probe-{secrets.token_hex(4)}"
    try:
        await ip("netns", "add", ns)
    except DataPathError:
        missing.append("network namespaces (CONFIG_NET_NS)")
        return Preflight(tuple(missing), tuple(notes))
    try:
        await _probe_in(ns, missing, notes)
    finally:
        await ip("netns", "delete", ns, check=False)
    return Preflight(tuple(missing), tuple(notes))


async def _probe_in(ns: str, missing: list[str], notes: list[str]) -> None:
    if not await _ok(["ip", "-n", ns, "link", "add", "pv0", "type", "veth", "peer", "name",
                      "pv1"]):
        missing.append("veth pairs (CONFIG_VETH)")
    if not await _ok(["ip", "-n", ns, "link", "add", "pbr", "type", "bridge",
                      "nf_call_iptables", "1", "nf_call_ip6tables", "1"]):
        missing.append("Linux bridges with netfilter calls (CONFIG_BRIDGE, "
                       "CONFIG_BRIDGE_NETFILTER)")
    elif not await _ok(["ip", "-n", ns, "link", "set", "pv0", "master", "pbr"]):
        missing.append("enslaving a veth to a bridge")
    if not await _ok(["ip", "-n", ns, "tuntap", "add", "dev", "ptap", "mode", "tap"]):
        missing.append("tap devices (CONFIG_TUN)")
    for part, text in NFT_PROBES:
        result = await nft("-f", "-", netns=ns, input=text, check=False)
        if result.returncode != 0:
            why = (result.stderr.strip().splitlines() or ["no message"])[0]
            missing.append(f"{part}: {why}")
        await nft("flush", "ruleset", netns=ns, check=False)
    if (await nft("-f", "-", netns=ns, input=BRIDGE_CT_PROBE, check=False)).returncode != 0:
        notes.append("no connection tracking in the bridge family (nf_conntrack_bridge); "
                     "bridged traffic is tracked through br_netfilter instead")
    if (await nft("add", "table", "bridge", "m", netns=ns, check=False)).returncode == 0 and (
            await nft("add", "chain", "bridge", "m", "c", netns=ns, check=False)).returncode == 0:
        if (await nft("add", "rule", "bridge", "m", "c", "meta", "ibrname", '"x"', "accept",
                      netns=ns, check=False)).returncode != 0:
            notes.append("no bridge meta expressions (nft_meta_bridge): ports are matched "
                         "by name only")
    await nft("flush", "ruleset", netns=ns, check=False)
    if not await _ok(["ip", "netns", "exec", ns, "conntrack", "-L"]):
        missing.append("connection tracking table access (conntrack -L, CONFIG_NF_CT_NETLINK)")


def _present(path: str) -> bool:
    return os.path.exists(path)


async def _ok(argv: list[str]) -> bool:
    try:
        return (await run(argv, check=False)).returncode == 0
    except DataPathError:
        return False
