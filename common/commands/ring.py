"""``strata ring …``: build and inspect the account, container and object rings."""

from __future__ import annotations

from common.cli import Command, Context
from rings import cli as ring_cli


def _run(ctx: Context) -> int:
    return ring_cli.run(ctx.args)


COMMANDS = (
    Command(
        "ring",
        "create, change, rebalance and show consistent-hash rings",
        "Rings place accounts, containers and objects on storage-node devices. A builder "
        "file (e.g. var/rings/object.builder) holds the devices and their weights; "
        "`rebalance` writes the ring file the services read (object.ring.gz beside it), "
        "which running services pick up by themselves. `strata up` builds 3-replica "
        "rings over the local nodes when there are none.",
        _run,
        ring_cli.configure_ring_parser,
        examples="  strata ring show var/rings/object.builder\n"
                 "  strata ring add var/rings/object.builder r1z4-127.0.0.1:6203/n4d1 100\n"
                 "  strata ring rebalance var/rings/object.builder",
    ),
)
