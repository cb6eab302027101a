"""``strata ring ...``: build rings from the command line.

Mount it with :func:`add_parser` on the ``strata`` subparsers (every
subcommand sets ``func`` to a ``(args) -> int`` function), or with
:func:`configure_ring_parser` + :func:`run` on a parser you already have.
``python -m rings.cli ring ...`` runs it standalone.

Errors a person can act on (missing file, bad device, unknown device id)
print one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.atomicfile import write_atomic
from rings.builder import RingBuilder
from rings.ring import RingData, RingError

__all__ = [
    "add_parser",
    "configure_ring_parser",
    "main",
    "parse_device_spec",
    "ring_file_for",
    "run",
]

EXIT_OK = 0
EXIT_ERROR = 2

_SPEC = re.compile(
    r"^(?:r(?P<region>\d+))?z(?P<zone>\d+)-"
    r"(?P<ip>\[[0-9A-Fa-f:.]+\]|[^:/\s\[\]]+):(?P<port>\d+)"
    r"/(?P<device>[^_/\s]+)(?:_(?P<meta>.*))?$"
)


class CliError(Exception):
    """A message for the operator; becomes ``strata ring: error: ...`` and exit 2."""


def parse_device_spec(spec: str, weight: str) -> dict[str, Any]:
    """Parse Swift's compact form ``[r<region>]z<zone>-<ip>:<port>/<device>[_<meta>]``
    and a weight into :meth:`RingBuilder.add_dev`'s keyword arguments."""
    match = _SPEC.match(spec)
    if match is None:
        raise CliError(
            f"bad device {spec!r}: expected r<region>z<zone>-<ip>:<port>/<device>, "
            "e.g. r1z1-127.0.0.1:6200/d1"
        )
    try:
        weight_value = float(weight)
    except ValueError:
        raise CliError(f"bad weight {weight!r} for device {spec}: expected a number") from None
    ip = match["ip"]
    if ip.startswith("["):
        ip = ip[1:-1]
    return dict(
        region=int(match["region"] or 1),
        zone=int(match["zone"]),
        ip=ip,
        port=int(match["port"]),
        device=match["device"],
        weight=weight_value,
        meta=match["meta"] or "",
    )


def ring_file_for(builder_file: str | Path) -> Path:
    """``object.builder`` → ``object.ring.gz`` (any other name gets ``.ring.gz`` appended)."""
    path = Path(builder_file)
    if path.suffix == ".builder":
        return path.with_suffix(".ring.gz")
    return path.with_name(path.name + ".ring.gz")


def _load(path: str) -> RingBuilder:
    if not Path(path).exists():
        raise CliError(f"builder file {path} does not exist (create it with `strata ring create`)")
    return RingBuilder.load(path)


def _err(message: str) -> None:
    print(f"strata ring: error: {message}", file=sys.stderr)


# -- commands --------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    path = Path(args.builder_file)
    if path.exists() and not args.force:
        raise CliError(f"{path} already exists (use --force to replace it)")
    builder = RingBuilder(args.part_power, args.replicas, args.min_part_hours)
    builder.save(path)
    print(
        f"created {path}: {builder.parts} partitions, {args.replicas} replicas, "
        f"min_part_hours {args.min_part_hours}"
    )
    return EXIT_OK


def _add(args: argparse.Namespace) -> int:
    specs: list[dict[str, Any]] = []
    options = (args.zone, args.ip, args.port, args.device, args.weight)
    if args.specs:
        if any(value is not None for value in options):
            raise CliError("give devices either as r1z1-ip:port/dev WEIGHT pairs or as options")
        if len(args.specs) % 2:
            raise CliError(f"device {args.specs[-1]!r} has no weight (r1z1-ip:port/dev WEIGHT)")
        pairs = zip(args.specs[::2], args.specs[1::2], strict=True)
        specs = [parse_device_spec(spec, weight) for spec, weight in pairs]
    else:
        missing = [
            f"--{name}"
            for name, value in zip(("zone", "ip", "port", "device", "weight"), options, strict=True)
            if value is None
        ]
        if missing:
            raise CliError(f"missing {', '.join(missing)} (or give r1z1-ip:port/dev WEIGHT)")
        specs = [{name: getattr(args, name) for name in
                  ("region", "zone", "ip", "port", "device", "weight", "meta")}]
    builder = _load(args.builder_file)
    added = [builder.get_dev(builder.add_dev(**spec)) for spec in specs]
    builder.save(args.builder_file)
    for dev in added:
        print(
            f"device d{dev.id} r{dev.region}z{dev.zone}-{dev.ip}:{dev.port}/{dev.device} "
            f"weight {dev.weight:g} added"
        )
    print("run `strata ring rebalance` to give it partitions")
    return EXIT_OK


def _remove(args: argparse.Namespace) -> int:
    builder = _load(args.builder_file)
    builder.remove_dev(args.dev_id)
    builder.save(args.builder_file)
    print(f"device d{args.dev_id} marked for removal; its partitions move at the next rebalance")
    return EXIT_OK


def _set_weight(args: argparse.Namespace) -> int:
    builder = _load(args.builder_file)
    old = builder.get_dev(args.dev_id).weight
    builder.set_weight(args.dev_id, args.weight)
    builder.save(args.builder_file)
    print(f"device d{args.dev_id} weight {old:g} -> {args.weight:g}")
    return EXIT_OK


def _rebalance(args: argparse.Namespace) -> int:
    builder = _load(args.builder_file)
    waiting = builder.min_part_seconds_left()
    moved, balance = builder.rebalance(seed=args.seed)
    total = builder.parts * builder.replicas
    ring_path = ring_file_for(args.builder_file)
    data = builder.get_ring_data().to_bytes()
    builder.save(args.builder_file)
    if ring_path.exists() and ring_path.read_bytes() == data:
        ring_note = f"{ring_path} unchanged"
    else:
        write_atomic(ring_path, data)
        ring_note = f"wrote {ring_path}"
    over = builder.dispersion()["over_limit"]
    print(
        f"reassigned {moved} partition-replicas ({100.0 * moved / total:.2f}%); "
        f"balance {balance:.2f}; partitions less dispersed than possible: {over}"
    )
    if not moved and waiting:
        print(
            f"partitions move at most once every min_part_hours ({builder.min_part_hours} h): "
            f"{math.ceil(waiting / 60)} minutes left since the last moves"
        )
    print(ring_note)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise CliError(f"{path} does not exist")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        print(_describe_ring(path, RingData.load(path)))
    else:
        print(f"{path}: builder")
        print(RingBuilder.load(path).describe())
    return EXIT_OK


def _describe_ring(path: Path, data: RingData) -> str:
    counts: Counter[int] = Counter()
    for table in data.replica2part2dev:
        counts.update(table)
    lines = [
        f"{path}: ring, {data.partition_count} partitions (part_power {data.part_power}), "
        f"{data.replica_count} replicas, {len(data.devs)} devices",
        f"{'id':>4} {'region':>6} {'zone':>4} {'ip:port':<22} {'device':<12} "
        f"{'weight':>8} {'parts':>8}",
    ]
    for dev in data.devs:
        address = f"{dev['ip']}:{dev['port']}"
        lines.append(
            f"{dev['id']:>4} {dev['region']:>6} {dev['zone']:>4} "
            f"{address:<22} {dev['device']:<12} "
            f"{dev['weight']:>8.2f} {counts.get(dev['id'], 0):>8}"
        )
    return "\n".join(lines)


def _ring_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show_help(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_ERROR

    return show_help


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the errors a person can act on into one line on stderr and exit 2."""

    def run_command(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except CliError as exc:
            _err(str(exc))
        except RingError as exc:  # builder and format errors
            _err(f"{getattr(args, 'builder_file', None) or getattr(args, 'file', '')}: {exc}")
        except FileNotFoundError as exc:
            _err(f"{exc.filename}: no such file")
        except OSError as exc:
            _err(f"{exc.filename or ''}: {exc.strerror or exc}")
        return EXIT_ERROR

    run_command.__name__ = func.__name__
    run_command.__doc__ = func.__doc__
    return run_command


# -- parser ----------------------------------------------------------------

_FMT = argparse.RawDescriptionHelpFormatter


Arg = tuple[tuple[str, ...], dict[str, Any]]  # add_argument's names and options
BUILDER_FILE: Arg = (("builder_file",), {"help": "the builder file"})
DEV_ID: Arg = (("dev_id",), {"type": int, "help": "device id (see `strata ring show`)"})


@dataclass(frozen=True)
class Command:
    """One ``strata ring`` subcommand: its help texts, function and arguments."""

    name: str
    summary: str
    description: str
    examples: str
    func: Callable[[argparse.Namespace], int]
    args: tuple[Arg, ...]


COMMANDS = (
    Command(
        "create",
        "create an empty builder file",
        "Create a ring builder file with 2**PART_POWER partitions, each stored\n"
        "REPLICAS times; a partition moves at most once per MIN_PART_HOURS.",
        "  strata ring create object.builder 10 3 1",
        _create,
        ((("builder_file",), {"help": "the builder file to create, e.g. object.builder"}),
         (("part_power",), {"type": int, "help": "log2 of the partition count (e.g. 10 → 1024)"}),
         (("replicas",), {"type": int, "help": "replicas of every partition (e.g. 3)"}),
         (("min_part_hours",), {"type": int,
                                "help": "hours before a partition may move again"}),
         (("--force",), {"action": "store_true", "help": "replace an existing builder file"})),
    ),
    Command(
        "add",
        "add devices",
        "Add one device with options, or any number in Swift's compact form\n"
        "[r<region>]z<zone>-<ip>:<port>/<device>[_<meta>] <weight> (region 1 if\n"
        "left out). Partitions move onto new devices at the next rebalance.",
        "  strata ring add object.builder r1z1-127.0.0.1:6200/d1 100\n"
        "  strata ring add object.builder z2-10.0.0.2:6200/sdb 100 z3-10.0.0.3:6200/sdb 100\n"
        "  strata ring add object.builder --region 1 --zone 1 --ip 10.0.0.1 --port 6200 \\\n"
        "      --device sdb --weight 100",
        _add,
        (BUILDER_FILE,
         (("specs",), {"nargs": "*", "metavar": "DEVICE WEIGHT",
                       "help": "compact device and weight"}),
         (("--region",), {"type": int, "default": 1, "help": "region number (default 1)"}),
         (("--zone",), {"type": int, "help": "zone number"}),
         (("--ip",), {"help": "storage node address"}),
         (("--port",), {"type": int, "help": "storage node port"}),
         (("--device",), {"help": "device name on the node (a directory under devices/)"}),
         (("--weight",), {"type": float, "help": "relative capacity, e.g. size in GB"}),
         (("--meta",), {"default": "", "help": "free text kept with the device"})),
    ),
    Command(
        "remove",
        "remove a device",
        "Mark a device for removal: all its partitions move to other devices at\n"
        "the next rebalance (whatever min_part_hours says), then it is forgotten.",
        "  strata ring remove object.builder 3",
        _remove,
        (BUILDER_FILE, DEV_ID),
    ),
    Command(
        "set-weight",
        "change a device's weight",
        "Change a device's weight; partitions follow at the next rebalance.\n"
        "Weight 0 drains a device gradually (subject to min_part_hours).",
        "  strata ring set-weight object.builder 3 200",
        _set_weight,
        (BUILDER_FILE, DEV_ID, (("weight",), {"type": float, "help": "the new weight"})),
    ),
    Command(
        "rebalance",
        "rebalance and write the ring file",
        "Reassign partitions to match devices and weights, moving as few as\n"
        "possible, then save the builder and write the ring file next to it\n"
        "(object.builder -> object.ring.gz). The same builder and seed always\n"
        "give the same ring file.",
        "  strata ring rebalance object.builder\n  strata ring rebalance object.builder --seed 7",
        _rebalance,
        (BUILDER_FILE, (("--seed",), {"type": int, "default": None,
                                      "help": "seed for the pseudo-random choices"})),
    ),
    Command(
        "show",
        "describe a builder or ring file",
        "Print the devices, their partition counts, weights and balance (for a\n"
        "builder file) or what a ring file holds.",
        "  strata ring show object.builder\n  strata ring show object.ring.gz",
        _show,
        ((("file",), {"help": "a builder file or a ring file"}),),
    ),
)


def configure_ring_parser(ring: argparse.ArgumentParser) -> None:
    """Add the ``ring`` subcommands to ``ring`` (a parser you created)."""
    ring.set_defaults(func=_ring_help(ring))
    sub = ring.add_subparsers(dest="ring_command", metavar="<command>", title="commands")
    for cmd in COMMANDS:
        parser = sub.add_parser(cmd.name, help=cmd.summary, description=cmd.description,
                                epilog="examples:\n" + cmd.examples, formatter_class=_FMT)
        parser.set_defaults(func=_guarded(cmd.func))
        for names, options in cmd.args:
            parser.add_argument(*names, **options)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ring`` and its subcommands to the ``strata`` command's subparsers."""
    ring = subparsers.add_parser(
        "ring",
        help="build and show rings",
        description="Build the rings that place accounts, containers and objects on devices.",
        epilog="examples:\n"
        "  strata ring create object.builder 10 3 1\n"
        "  strata ring add object.builder r1z1-10.0.0.1:6200/sdb 100\n"
        "  strata ring rebalance object.builder\n"
        "  strata ring show object.ring.gz",
        formatter_class=_FMT,
    )
    configure_ring_parser(ring)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (its ``func``)."""
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strata", description="Strata ring tools")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    add_parser(subparsers)
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
