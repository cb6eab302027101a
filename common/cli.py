"""The ``strata`` command: one entry point, pluggable subcommands.

A subcommand is a :class:`Command` listed in the ``COMMANDS`` sequence of any
module of the :mod:`common.commands` package; every such module is found at
start, so ``strata ring ...`` or ``strata user ...`` join by adding a module
there (a command may add its own sub-subcommands in ``configure``)::

    # common/commands/ring.py
    from common.cli import Command, Context

    def _configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("builder")

    def _run(ctx: Context) -> int:
        cfg = ctx.config()  # loaded once, from --config / STRATA_CONFIG / strata.toml
        ...
        return 0

    COMMANDS = (Command("ring", "build and show rings", "Longer text.", _run, _configure,
                        examples="  strata ring show object"),)

A command reports an error a person can act on by raising
:class:`CommandError` (message, exit status); a :class:`ConfigError` becomes
its message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from common import config as config_mod
from common.config import ConfigError, StrataConfig

COMMAND_PACKAGE = "common.commands"


class CommandError(Exception):
    """An error the user can act on: printed as ``strata: <message>``, exit ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    name: str
    summary: str  # one line, for ``strata --help``
    description: str  # the paragraph at the top of ``strata <name> --help``
    run: Callable[[Context], int]
    configure: Callable[[argparse.ArgumentParser], None] = _no_arguments
    examples: str = ""  # shown under "examples:" in ``--help``
    passthrough: bool = False  # unknown arguments go to ``ctx.extra`` instead of an error


@dataclass
class Context:
    """What a command gets: its parsed arguments and the (lazily loaded) config."""

    args: argparse.Namespace
    config_arg: str | None = None
    extra: list[str] = field(default_factory=list)
    _config: StrataConfig | None = None

    def config(self) -> StrataConfig:
        """The configuration, loaded and validated on first use (secrets created)."""
        if self._config is None:
            self._config = config_mod.load(self.config_arg)
        return self._config

    @property
    def home(self) -> Path:
        return config_mod.strata_home()


def discover(package: str = COMMAND_PACKAGE) -> list[Command]:
    """Every ``COMMANDS`` entry of every module of ``package``, in module order."""
    pkg = importlib.import_module(package)
    found: list[Command] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        found.extend(getattr(module, "COMMANDS", ()))
    names = [c.name for c in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"strata commands defined twice: {', '.join(duplicates)}")
    return found


def _add_config_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="configuration file (default: $STRATA_CONFIG, else strata.toml in "
        "$STRATA_HOME when it exists)",
    )


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strata",
        description="Run and operate Strata, an OpenStack-compatible cloud.",
        epilog="examples:\n  strata up            start every service, in the foreground\n"
        "  strata up -d         start them in the background\n"
        "  strata status        which services answer\n"
        "  strata down          stop what `strata up -d` started\n\n"
        "`strata <command> --help` tells more about each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_option(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for cmd in commands:
        child = sub.add_parser(
            cmd.name,
            help=cmd.summary,
            description=textwrap.fill(cmd.description, width=78),
            epilog=f"examples:\n{cmd.examples}" if cmd.examples else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # Also accepted after the command name; the global value is the default.
        _add_config_option(child, argparse.SUPPRESS)
        cmd.configure(child)
        child.set_defaults(_command=cmd, _parser=child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    commands = discover()
    parser = build_parser(commands)
    args, extra = parser.parse_known_args(argv)
    cmd: Command = args._command
    if extra and not cmd.passthrough:
        args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra[:1] == ["--"]:
        extra = extra[1:]
    ctx = Context(args=args, config_arg=args.config, extra=extra)
    try:
        return cmd.run(ctx)
    except ConfigError as exc:
        print(f"strata: configuration error: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"strata: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("strata: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `strata status | head`: the reader went away; not worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    # Run the copy command modules import (``common.cli``), not ``__main__``, so
    # that their CommandError is the one main() catches.
    from common.cli import main as _main

    sys.exit(_main())
