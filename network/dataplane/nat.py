"""A router's address translation, as one nftables table inside its namespace.

* each floating IP: DNAT of traffic to it (from outside, and from the
  router's own networks: hairpin) to the port's fixed address, and SNAT of
  what that port sends out of the gateway leg to the floating IP;
* the gateway (``enable_snat``): everything else leaving through the
  gateway leg takes the gateway's address;
* hairpin: a guest reaching another's floating IP from inside is
  masqueraded to the router's address, so the reply comes back the same way.
"""

from __future__ import annotations

import ipaddress

from network.dataplane import names
from network.dataplane.model import Router


def render(router: Router) -> str | None:
    """``nft -f`` text replacing the router's table, or None when it needs none
    (no gateway: nothing to translate)."""
    gateway = router.gateway
    if gateway is None:
        return None
    qg = names.gateway_leg(gateway.port_id)
    fips = sorted((f for f in router.floating_ips
                   if ipaddress.ip_address(f.floating_ip_address).version == 4),
                  key=lambda f: f.floating_ip_address)
    internal = sorted({str(ipaddress.ip_interface(f"{i.ip_address}/{i.prefixlen}").network)
                       for i in router.interfaces
                       if ipaddress.ip_address(i.ip_address).version == 4})
    pre = [f"ip daddr {f.floating_ip_address} dnat to {f.fixed_ip_address}" for f in fips]
    post = [f'oifname "{qg}" ip saddr {f.fixed_ip_address} snat to {f.floating_ip_address}'
            for f in fips]
    if gateway.enable_snat and ipaddress.ip_address(gateway.ip_address).version == 4:
        post.append(f'oifname "{qg}" snat to {gateway.ip_address}')
    if internal:
        post.append(f'ct status dnat oifname != "{qg}" ip saddr {{ {", ".join(internal)} }} '
                    "masquerade")
    table = names.NFT_TABLE_NS
    body = (
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        + "".join(f"\t\t{rule}\n" for rule in pre) + "\t}\n"
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
        + "".join(f"\t\t{rule}\n" for rule in pre) + "\t}\n"
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        + "".join(f"\t\t{rule}\n" for rule in post) + "\t}\n"
    )
    return (f"table ip {table} {{}}\ndelete table ip {table}\n"
            f"table ip {table} {{\n{body}}}\n")


def removal() -> str:
    table = names.NFT_TABLE_NS
    return f"table ip {table} {{}}\ndelete table ip {table}\n"
