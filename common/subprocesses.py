"""Running a helper program from asyncio: no shell, a time limit, output kept.

The block store drives ``tgtadm`` and the network data path ``ip``, ``nft``
and friends this way; each turns a failure into its own domain error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str


async def run_command(argv: Sequence[str], time_limit: float = 60.0, *,
                      input: str | None = None,
                      error: Callable[[str], Exception] = RuntimeError) -> CommandResult:
    """Run ``argv``, feeding it ``input`` on stdin when given; raise
    ``error(message)`` if it cannot start or overruns ``time_limit`` seconds (it
    is killed then). A non-zero exit status is the caller's to judge."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise error(f"cannot run {argv[0]}: {exc.strerror}") from None
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise error(f"{argv[0]} did not finish within {time_limit:g}s") from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    assert proc.returncode is not None
    return CommandResult(proc.returncode, out.decode(errors="replace"),
                         err.decode(errors="replace"))
