"""Running the host tools (``ip``, ``nft``, ``sysctl``, ``conntrack``) as asyncio
subprocesses, in the root namespace or inside a named one.

Every call has a time limit; a failure raises :class:`DataPathError` quoting
the command and what the tool wrote on stderr.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from common.subprocesses import CommandResult as Result
from common.subprocesses import run_command
from network.dataplane.errors import DataPathError

log = logging.getLogger("network.dataplane")

TIME_LIMIT = 30.0


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside ``netns`` (``ip netns exec``), or as is for the root."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def _describe(argv: Sequence[str]) -> str:
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:200] + "..."


async def run(argv: Sequence[str], *, input: str | None = None, check: bool = True,
              time_limit: float = TIME_LIMIT) -> Result:
    """Run ``argv`` (no shell); raise DataPathError when it cannot start,
    overruns ``time_limit`` or (with ``check``) exits non-zero."""
    result = await run_command(argv, time_limit, input=input, error=DataPathError)
    if check and result.returncode != 0:
        detail = result.stderr.strip() or result.stdout.strip() or "no message"
        raise DataPathError(
            f"{_describe(argv)} failed (status {result.returncode}): {detail}")
    return result


def _ip_argv(netns: str | None, args: Sequence[str]) -> list[str]:
    return ["ip", *(["-n", netns] if netns else []), *args]


async def ip(*args: str, netns: str | None = None, check: bool = True) -> Result:
    """``ip [-n netns] args...``"""
    return await run(_ip_argv(netns, args), check=check)


async def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    """``ip -j [-n netns] args...`` parsed; [] when it prints nothing."""
    result = await run(_ip_argv(netns, ["-j", *args]))
    text = result.stdout.strip()
    if not text:
        return []
    data = json.loads(text)
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


async def ip_batch(commands: Sequence[str], netns: str | None = None) -> None:
    """Run several ``ip`` commands in one process (``ip -batch -``); it stops
    at the first that fails, and the error names that command."""
    if not commands:
        return
    result = await run(_ip_argv(netns, ["-batch", "-"]), input="\n".join(commands) + "\n",
                       check=False)
    if result.returncode != 0:
        failed = re.search(r"Command failed -:(\d+)", result.stderr)
        line = int(failed.group(1)) if failed else 0
        what = commands[line - 1] if 0 < line <= len(commands) else "; ".join(commands)
        message = re.sub(r"\s*Command failed -:\d+\s*", " ", result.stderr).strip()
        where = f" in {netns}" if netns else ""
        raise DataPathError(f"ip {what}{where} failed: {message or 'no message'}")


async def nft(*args: str, netns: str | None = None, input: str | None = None,
              check: bool = True) -> Result:
    """``nft args...`` (inside ``netns`` when given); ``-f -`` reads ``input``."""
    return await run(in_netns(netns, ["nft", *args]), input=input, check=check)


async def sysctl(settings: dict[str, str], netns: str | None = None) -> None:
    await run(in_netns(netns, ["sysctl", "-q", "-w",
                               *(f"{key}={value}" for key, value in settings.items())]))


def quote(value: str) -> str:
    """A value as one word of an ``ip -batch`` line."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def log_cleanup_failure(what: str, exc: BaseException) -> None:
    log.warning("data path: could not %s: %s", what, exc)
