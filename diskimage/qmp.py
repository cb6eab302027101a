"""A minimal asyncio QMP client: run commands on a qemu process's monitor socket.

The block store drives its qemu-storage-daemons with it; compute will drive
its VMs the same way. Errors are :class:`QmpError` (the monitor could not be
reached, closed, or did not answer in time) and :class:`QmpCommandError` (a
command answered ``error``); callers map them to their own errors.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class QmpError(Exception):
    """The monitor could not be reached or failed; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QmpCommandError(QmpError):
    """A command answered ``error``: ``command`` is its name, ``desc`` qemu's text."""

    def __init__(self, command: str, desc: str) -> None:
        super().__init__(f"storage daemon: {command} failed: {desc}")
        self.command = command
        self.desc = desc


async def run(socket_path: str, *commands: tuple[str, dict[str, Any] | None],
              deadline: float = 30.0) -> list[Any]:
    """Run ``commands`` in order on a QMP monitor; their ``return`` values.

    Events are skipped. An ``error`` answer raises :class:`QmpCommandError`
    (the commands after it are not sent). A last ``quit`` waits until the
    process closes its monitor.
    """
    try:
        async with asyncio.timeout(deadline):
            reader, writer = await asyncio.open_unix_connection(socket_path, limit=1 << 22)
    except (OSError, TimeoutError) as exc:
        raise QmpError(f"cannot reach the storage daemon at {socket_path}: {exc}") from None
    out: list[Any] = []
    try:
        async with asyncio.timeout(deadline):
            await reader.readline()  # the greeting
            for name, arguments in (("qmp_capabilities", None), *commands):
                msg: dict[str, Any] = {"execute": name}
                if arguments is not None:
                    msg["arguments"] = arguments
                writer.write(json.dumps(msg).encode() + b"\n")
                await writer.drain()
                while True:
                    line = await reader.readline()
                    if not line:
                        if name == "quit":
                            out.append({})
                            break
                        raise QmpError(f"the storage daemon closed its monitor during {name}")
                    answer = json.loads(line)
                    if "event" in answer:
                        continue
                    if "error" in answer:
                        desc = answer["error"].get("desc", "unknown error")
                        raise QmpCommandError(name, str(desc))
                    if name != "qmp_capabilities":
                        out.append(answer.get("return"))
                    break
            if commands and commands[-1][0] == "quit":
                while await reader.read(65536):  # wait until the daemon closes the monitor
                    pass
    except TimeoutError:
        raise QmpError(f"the storage daemon at {socket_path} did not answer in time") from None
    except (OSError, ValueError) as exc:
        raise QmpError(f"talking to the storage daemon at {socket_path}: {exc}") from None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return out
