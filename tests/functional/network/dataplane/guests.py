"""Network namespaces standing in for guests, and what tests do from them:
take a DHCP lease with busybox ``udhcpc``, ``ping``, open or reach a TCP port.

Every command runs inside a namespace the test made (or one of the data
path's), so no packet leaves this machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

# udhcpc's event script: records what the server sent, then configures the
# interface as a guest's DHCP client would (address, MTU, option 121 routes or
# the router option).
UDHCPC_SCRIPT = textwrap.dedent("""\
    #!/bin/sh
    case "$1" in
    bound|renew)
        env | sort > "$LEASE_OUT"
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
        if [ -n "$staticroutes" ]; then
            set -- $staticroutes
            while [ $# -ge 2 ]; do
                if [ "$2" = 0.0.0.0 ]; then
                    ip route replace "$1" dev "$interface"
                else
                    ip route replace "$1" via "$2" dev "$interface"
                fi
                shift 2
            done
        elif [ -n "$router" ]; then
            ip route replace default via "${router%% *}" dev "$interface"
        fi
        ;;
    esac
    exit 0
""")

LISTENER = textwrap.dedent("""\
    import socket, sys
    family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen(16)
    print("listening", flush=True)
    while True:
        conn, peer = s.accept()
        conn.sendall(("hello " + peer[0] + "\\n").encode())
        conn.close()
""")

CONNECTOR = textwrap.dedent("""\
    import socket, sys
    wait = float(sys.argv[3])
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=wait) as c:
            c.settimeout(wait)
            data = c.recv(200)
    except OSError as exc:
        print("failed:", exc)
        sys.exit(1)
    print(data.decode().strip())
    sys.exit(0 if data.startswith(b"hello") else 1)
""")


METADATA_GET = textwrap.dedent("""\
    import sys, urllib.request
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open("http://169.254.169.254" + sys.argv[1], timeout=20) as resp:
        print(resp.read().decode())
""")


def run_in(netns: str, *argv: str, timeout: float = 30.0,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True,
                          timeout=timeout, check=check)


def ping(netns: str, address: str, count: int = 1, wait: float = 1.0) -> bool:
    """True when ``address`` answers an ICMP echo from ``netns``."""
    flag = "-6" if ":" in address else "-4"
    result = run_in(netns, "ping", flag, "-n", "-c", str(count), "-W", str(wait), address,
                    timeout=count * wait + 10)
    return result.returncode == 0


def reaches(netns: str, address: str, tries: int = 4) -> bool:
    """True when ``address`` answers one of ``tries`` pings from ``netns`` (2 s each):
    for what must get through on a loaded machine, where one echo may be late."""
    return any(ping(netns, address, wait=2.0) for _ in range(tries))


def tcp_connect(netns: str, address: str, port: int, timeout: float = 2.0) -> str | None:
    """The listener's greeting ("hello <peer address>"), or None when unreachable."""
    result = run_in(netns, sys.executable, "-c", CONNECTOR, address, str(port), str(timeout),
                    timeout=timeout + 15)
    return result.stdout.strip() if result.returncode == 0 else None


def connects(netns: str, address: str, port: int, tries: int = 3) -> str | None:
    """``tcp_connect`` tried up to ``tries`` times: for what must get through."""
    for _ in range(tries):
        greeting = tcp_connect(netns, address, port)
        if greeting is not None:
            return greeting
    return None


def metadata_get(netns: str, path: str) -> str:
    """The body of a GET of ``path`` from the metadata address, as a guest in ``netns``
    sends it (fails the test when it is refused)."""
    r = run_in(netns, sys.executable, "-c", METADATA_GET, path, timeout=40)
    assert r.returncode == 0, r.stderr
    return r.stdout


@contextlib.contextmanager
def tcp_listener(netns: str, port: int, address: str = "0.0.0.0") -> Iterator[None]:
    """A TCP server in ``netns`` that greets each client with its address."""
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER,
                             address, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "listening", f"listener in {netns} did not start: {line!r}"
        yield
    finally:
        proc.kill()
        proc.wait()


class Guests:
    """Namespaces made for a test, each removed (with its processes) at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = "sg" + secrets.token_hex(3)  # never an instance tag's pattern
        self.made: list[str] = []
        self.script = workdir / "udhcpc.sh"
        self.script.write_text(UDHCPC_SCRIPT)
        self.script.chmod(0o755)

    def new(self, name: str) -> str:
        netns = f"{self.prefix}-{name}"
        subprocess.run(["ip", "netns", "add", netns], check=True)
        self.made.append(netns)
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        return netns

    def dhcp(self, netns: str, ifname: str = "eth0", tries: int = 6) -> dict[str, str] | None:
        """Take a lease with udhcpc; the options the server sent, or None."""
        out = self.workdir / f"{netns}.lease"
        out.unlink(missing_ok=True)
        env = dict(os.environ, LEASE_OUT=str(out))
        result = subprocess.run(
            ["ip", "netns", "exec", netns, "busybox", "udhcpc", "-f", "-q", "-n", "-i", ifname,
             "-t", str(tries), "-T", "1", "-A", "1", "-s", str(self.script), "-O", "mtu",
             "-O", "staticroutes"], capture_output=True, text=True, env=env, timeout=60)
        if result.returncode != 0 or not out.exists():
            return None
        lease = {}
        for line in out.read_text().splitlines():
            key, _, value = line.partition("=")
            lease[key] = value
        return lease

    def cleanup(self) -> None:
        for netns in self.made:
            pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            subprocess.run(["ip", "netns", "delete", netns], capture_output=True)
        self.made.clear()
