"""``strata up``, ``strata down``, ``strata status``: run the cloud on this machine."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from common import daemon, debpkg
from common.cli import Command, CommandError, Context
from common.config import StrataConfig
from common.health import probe, wait_until
from common.openrc import write_openrc_files
from common.services import ServiceSpec, enabled_services
from common.supervisor import START_TIMEOUT, StartupError, Supervisor, child_env, down_reason


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def service_lines(cfg: StrataConfig, specs: list[ServiceSpec]) -> tuple[list[str], bool]:
    """One line per service (name, up/DOWN, URL, and why an optional service could not
    start) and whether all are up, optional services that cannot run here aside."""
    width = max([len(s.name) for s in specs] + [8])
    lines, all_up = [], True
    for spec in specs:
        up = probe(spec.health_url(cfg))
        why = None if up or not spec.optional else down_reason(cfg, spec.name)
        all_up = all_up and (up or why is not None)
        line = f"  {spec.name:<{width}}  {'up' if up else 'DOWN':<4}  {spec.base_url(cfg)}"
        lines.append(line + (f"  ({why})" if why else ""))
        for label, url in spec.listener_urls(cfg):
            there = up and probe(url + "/healthcheck")
            lines.append(f"  {'':<{width}}  {'up' if there else 'DOWN':<4}  {url}  ({label})")
    return lines, all_up


def instructions(cfg: StrataConfig, detached: bool) -> str:
    specs = enabled_services(cfg)
    lines, _ = service_lines(cfg, specs)
    var = cfg.var_path
    text = ["", "Strata is up:", *lines, "", "Use it with the OpenStack client:"]
    text.append(f"  source {_shown(var / 'openrc')}        # the admin user")
    if cfg.identity.demo_user:
        text.append(f"  source {_shown(var / 'demo-openrc')}   # or the demo user, a member")
    text += ["  openstack token issue", "  swift list                           # the object store",
             "", "S3 clients (boto3, aws, rclone) use an EC2 access key:",
             "  openstack ec2 credentials create     # prints access and secret",
             f"  aws --endpoint-url {cfg.proxy_url()} s3 ls", ""]
    text.append(f"Logs are in {_shown(var / 'log')}/.")
    if detached:
        text.append("Check it with `strata status`; stop it with `strata down`.")
    else:
        text.append("Press Ctrl-C to stop every service.")
    return "\n".join(text) + "\n"


def _install_packages(cfg: StrataConfig) -> None:
    """Install missing Debian packages, then run each service's prepare hook once."""
    packages = [p for s in enabled_services(cfg) for p in s.debian_packages]
    try:
        debpkg.ensure(packages, "the enabled services")
    except debpkg.PackageError as exc:
        raise CommandError(str(exc)) from None
    for hook in dict.fromkeys(s.prepare for s in enabled_services(cfg) if s.prepare):
        module, _, func = hook.partition(":")
        try:
            getattr(importlib.import_module(module), func)(cfg)
        except (OSError, ValueError) as exc:
            raise CommandError(f"could not prepare {module}: {exc}") from None


# -- up ----------------------------------------------------------------------


def _configure_up(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d", "--detach", action="store_true",
        help="run in the background; return once every service answers",
    )
    # The daemon `up -d` starts: supervise in this process, report readiness.
    parser.add_argument("--supervise", action="store_true", help=argparse.SUPPRESS)


def _run_up(ctx: Context) -> int:
    cfg = ctx.config()
    if ctx.args.supervise:
        return _supervise(ctx, cfg)
    running = daemon.running_pid(cfg)
    if ctx.args.detach:
        return _up_detached(ctx, cfg, running)
    if running is not None:
        raise CommandError(
            f"Strata already runs in the background (supervisor pid {running}); "
            "see `strata status`, or stop it with `strata down` first"
        )
    _install_packages(cfg)
    specs = enabled_services(cfg)
    if not specs:
        raise CommandError("no service is enabled in the configuration")

    def ready() -> None:
        write_openrc_files(cfg)
        sys.stdout.write(instructions(cfg, detached=False))
        sys.stdout.flush()

    supervisor = Supervisor(cfg, specs, child_env(cfg, ctx.config_arg))
    try:
        return asyncio.run(supervisor.run(on_ready=ready))
    except StartupError as exc:
        raise CommandError(f"could not start Strata: {exc}") from None


def _up_detached(ctx: Context, cfg: StrataConfig, running: int | None) -> int:
    specs = enabled_services(cfg)
    if running is not None:
        print(f"Strata is already running (supervisor pid {running}).")
        for spec in specs:
            if not wait_until(spec.health_url(cfg), START_TIMEOUT):
                raise CommandError(
                    f"{spec.name} does not answer at {spec.health_url(cfg)}; "
                    f"see {_shown(cfg.var_path / 'log' / (spec.name + '.log'))}"
                )
    else:
        _install_packages(cfg)
        if not specs:
            raise CommandError("no service is enabled in the configuration")
        try:
            pid = daemon.start(cfg, ctx.config_arg, child_env(cfg, ctx.config_arg))
        except daemon.DaemonError as exc:
            raise CommandError(str(exc)) from None
        print(f"Strata started in the background (supervisor pid {pid}, "
              f"log {_shown(daemon.log_path(cfg))}).")
    write_openrc_files(cfg)
    sys.stdout.write(instructions(cfg, detached=True))
    return 0


def _supervise(ctx: Context, cfg: StrataConfig) -> int:
    """The body of the background daemon (stdout is strata.log)."""
    pid = os.getpid()
    daemon.write_pid(daemon.pid_path(cfg), pid)

    def ready() -> None:
        write_openrc_files(cfg)
        daemon.write_pid(daemon.ready_path(cfg), pid)

    supervisor = Supervisor(cfg, enabled_services(cfg), child_env(cfg, ctx.config_arg))
    try:
        return asyncio.run(supervisor.run(on_ready=ready))
    except StartupError as exc:
        supervisor.say(f"ERROR: {exc}")
        daemon.failed_path(cfg).write_text(f"{exc}\n")  # shown by `up -d`
        return 1
    finally:
        daemon.remove_if_ours(daemon.ready_path(cfg), pid)
        daemon.remove_if_ours(daemon.pid_path(cfg), pid)


UP = Command(
    "up",
    "start every enabled service and supervise it",
    "Install the Debian packages the enabled services need, start every enabled "
    "service, wait until each answers its health check, write <var>/openrc (admin) "
    "and <var>/demo-openrc (demo user), and supervise them: output is streamed "
    "with the service name as prefix and appended to <var>/log/<service>.log, and "
    "a service that dies is restarted. Ctrl-C or SIGTERM stops everything. With "
    "-d the supervisor runs in the background and the command returns once every "
    "service answers.",
    _run_up,
    _configure_up,
    examples="  strata up                     # foreground, Ctrl-C stops\n"
    "  strata up -d                  # background; then `strata down`\n"
    "  strata --config my.toml up -d\n"
    "  STRATA_IDENTITY_PORT=5001 strata up",
)


# -- down --------------------------------------------------------------------


def _run_down(ctx: Context) -> int:
    cfg = ctx.config()
    try:
        pid = daemon.stop(cfg)
    except daemon.DaemonError as exc:
        raise CommandError(str(exc)) from None
    if pid is None:
        print("Strata is not running in the background; nothing to stop.")
    else:
        print(f"Strata stopped (supervisor pid {pid}).")
    return 0


DOWN = Command(
    "down",
    "stop what `strata up -d` started",
    "Send SIGTERM to the background supervisor started by `strata up -d`, wait "
    "until it and every service are gone (killing what remains after a timeout) "
    "and remove its pid file. Does nothing, successfully, when nothing runs.",
    _run_down,
    examples="  strata down\n  strata --config my.toml down",
)


# -- status ------------------------------------------------------------------


def _run_status(ctx: Context) -> int:
    cfg = ctx.config()
    specs = enabled_services(cfg)
    lines, all_up = service_lines(cfg, specs)
    pid = daemon.running_pid(cfg)
    print("\n".join(lines))
    if pid is not None:
        print(f"background supervisor: running (pid {pid})")
    else:
        print("background supervisor: not running")
    return 0 if all_up else 3


STATUS = Command(
    "status",
    "show each enabled service, its URL and whether it answers",
    "Check the health URL of every enabled service and print one line each: name, "
    "up or DOWN, and its public URL. Exit status 0 when every service is up, 3 "
    "otherwise.",
    _run_status,
    examples="  strata status\n  strata status && source var/openrc",
)


COMMANDS = (UP, DOWN, STATUS)
