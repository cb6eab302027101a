#!/bin/busybox sh
# /init of Strata's tiny test guest: a busybox-static initramfs around a Debian kernel.
# Everything it reports goes to the serial console as "STRATA-TINY: ..." lines that the
# test suite reads; the last one of a good boot is "STRATA-TINY-READY <instance uuid>".
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /root /mnt
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1
say() { echo "STRATA-TINY: $*"; }
say "init started, kernel $(uname -r)"

# Modules in dependency order: virtio transport, disks, network (virtio_net needs
# net_failover, which needs failover), then the config drive's ISO 9660 file system.
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci \
         virtio_blk failover net_failover virtio_net cdrom isofs; do
    insmod "/lib/modules/$m.ko" || say "module $m failed to load"
done

cmdline_arg() {  # value of NAME=VALUE on the kernel command line
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1"=*) echo "${word#*=}"; return ;; esac
    done
}

# Block devices as they come and go (hot-plugged volumes show up here).
watch_disks() {
    old=""
    while true; do
        new=$(ls /sys/block | grep -v -e '^loop' -e '^ram' | sort | tr '\n' ' ')
        for d in $new; do
            case " $old " in *" $d "*) ;; *)
                [ -n "$old" ] && say "disk added $d $(cat /sys/block/$d/size) sectors" ;;
            esac
        done
        for d in $old; do
            case " $new " in *" $d "*) ;; *) say "disk removed $d" ;; esac
        done
        [ -z "$old" ] && say "disks $new"
        old="$new"
        sleep 1
    done
}

# The root disk (the "ami"): a raw disk whose first sector starts with the magic
# STRATA-TINY-ROOT; its second sector counts the boots, so a snapshot's copy
# carries the count on.
root_disk() {
    for dev in /sys/block/vd*; do
        [ -e "$dev" ] || continue
        d=${dev##*/}
        if [ "$(dd if=/dev/$d bs=16 count=1 2>/dev/null)" = STRATA-TINY-ROOT ]; then
            boots=$(dd if=/dev/$d bs=512 skip=1 count=1 2>/dev/null | sed -n 's/^boots \([0-9]*\).*/\1/p')
            boots=$(( ${boots:-0} + 1 ))
            printf 'boots %d\n' "$boots" | dd of=/dev/$d bs=512 seek=1 conv=notrunc,sync 2>/dev/null
            sync
            say "root disk $d boot $boots"
            return
        fi
    done
    say "no root disk"
}

json_str() {  # json_str KEY FILE: a top-level string value (the files are one-line JSON)
    sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1
}

public_keys() {  # the values of the "public_keys" object, one per line
    sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p' "$1" |
        awk -F'"' '{ for (i = 4; i <= NF; i += 4) { v = $i; gsub(/\\n/, "", v); print v } }'
}

network() {
    ip link set lo up
    ip=$(cmdline_arg strata.ip)
    for nic in /sys/class/net/eth*; do
        [ -e "$nic" ] || continue
        n=${nic##*/}
        ip link set "$n" up
        say "nic $n $(cat $nic/address)"
        if [ -n "$ip" ] && [ "$n" = eth0 ]; then
            ip addr add "$ip" dev "$n"
            gw=$(cmdline_arg strata.gw)
            [ -n "$gw" ] && ip route add default via "$gw"
            say "static address $ip on $n"
        elif udhcpc -i "$n" -s /etc/udhcpc.sh -t 4 -T 2 -n -q >/tmp/udhcpc.$n 2>&1; then
            say "dhcp address $(ip -4 -o addr show dev $n | awk '{print $4}') on $n"
        else
            say "dhcp on $n got no lease"
        fi
    done
}

metadata() {  # fills /run/meta with meta_data.json, user_data (when there is one)
    mkdir -p /run/meta
    drive=$(findfs LABEL=config-2 2>/dev/null)
    if [ -n "$drive" ] && mkdir -p /mnt/config && mount -t iso9660 -o ro "$drive" /mnt/config; then
        say "config drive $drive"
        cp /mnt/config/openstack/latest/meta_data.json /run/meta/ 2>/dev/null
        cp /mnt/config/openstack/latest/user_data /run/meta/ 2>/dev/null
        return
    fi
    # (busybox-static 1.35's wget crashes with -T: the timeout applet bounds it instead)
    base=http://169.254.169.254/openstack/latest
    for try in 1 2 3 4 5; do
        if timeout 5 wget -q -O /run/meta/meta_data.json "$base/meta_data.json"; then
            say "metadata service"
            timeout 5 wget -q -O /run/meta/user_data "$base/user_data" ||
                rm -f /run/meta/user_data
            return
        fi
        sleep 1
    done
    rm -f /run/meta/meta_data.json
    say "no config drive and no metadata service"
}

watch_disks &
root_disk
network
metadata
uuid=unknown
if [ -f /run/meta/meta_data.json ]; then
    uuid=$(json_str uuid /run/meta/meta_data.json)
    host=$(json_str hostname /run/meta/meta_data.json)
    [ -n "$host" ] && hostname "$host"
    say "uuid $uuid"
    say "hostname $host"
    mkdir -p /root/.ssh
    public_keys /run/meta/meta_data.json >/root/.ssh/authorized_keys
    chmod 700 /root/.ssh
    chmod 600 /root/.ssh/authorized_keys
    say "public keys $(grep -c . /root/.ssh/authorized_keys)"
fi
mkdir -p /etc/dropbear
dropbear -R -E -p 22 2>/tmp/dropbear.log && say "ssh server on port 22"
if [ -f /run/meta/user_data ] && [ "$(head -c 2 /run/meta/user_data)" = "#!" ]; then
    chmod +x /run/meta/user_data
    say "user_data start"
    /run/meta/user_data
    say "user_data exit $?"
fi
say "ready"
echo "STRATA-TINY-READY $uuid"
while true; do
    setsid cttyhack sh -l
    sleep 1
done
