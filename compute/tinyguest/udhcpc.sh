#!/bin/sh
# udhcpc's event script in the tiny guest: apply the lease to the interface.
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface"; break; done
        # Classless static routes (option 121: "dest/prefix gateway" pairs),
        # e.g. the route to the metadata address.
        set -- $staticroutes
        while [ $# -ge 2 ]; do ip route add "$1" via "$2" dev "$interface"; shift 2; done
        : >/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        ;;
esac
exit 0
