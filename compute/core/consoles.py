"""Remote consoles: which console a request asks for, and the one-time tokens of the
URLs that open them.

A console URL carries a random token; the database keeps only its SHA-256, with the
server it opens, where that server's console is on its host (VNC address and port,
or the serial pty's path) and when the token expires. The console proxy redeems a
token once: the first connection marks it used, so a URL opens one session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from compute import models as m
from compute.errors import Forbidden, Invalid

# Nova's protocols and the console types each has (microversion 2.6; mks from 2.8).
PROTOCOLS: dict[str, tuple[str, ...]] = {
    "vnc": ("novnc", "xvpvnc"), "spice": ("spice-html5",), "rdp": ("rdp-html5",),
    "serial": ("serial",), "mks": ("webmks",)}
# The console types this cloud serves, and the driver's console each opens.
SERVED = {"novnc": "vnc", "serial": "serial"}
LEGACY_ACTIONS = {"os-getVNCConsole": "vnc", "os-getSerialConsole": "serial",
                  "os-getSPICEConsole": "spice", "os-getRDPConsole": "rdp"}


def remote_console(body: Any, minor: int) -> tuple[str, str]:
    """``(protocol, type)`` from a ``remote-consoles`` request body."""
    req = body.get("remote_console") if isinstance(body, dict) else None
    if not isinstance(req, dict) or set(body) != {"remote_console"}:
        raise Invalid("Invalid input for field/attribute remote_console: it is required.")
    extra = set(req) - {"protocol", "type"}
    if extra:
        raise Invalid("Additional properties are not allowed "
                      f"({', '.join(sorted(extra))} was unexpected)")
    protocols = [p for p in PROTOCOLS if p != "mks" or minor >= 8]
    types = [t for p in protocols for t in PROTOCOLS[p]]
    protocol, kind = req.get("protocol"), req.get("type")
    if protocol not in protocols:
        raise Invalid(f"Invalid input for field/attribute protocol. Value: {protocol}. "
                      f"{protocol!r} is not one of {protocols}")
    if kind not in types:
        raise Invalid(f"Invalid input for field/attribute type. Value: {kind}. "
                      f"{kind!r} is not one of {types}")
    return str(protocol), check_type(str(protocol), str(kind))


def legacy_console(action: str, args: Any) -> str:
    """The console type a legacy ``os-get*Console`` action asks for."""
    kind = args.get("type") if isinstance(args, dict) else None
    if not isinstance(kind, str):
        raise Invalid(f"Invalid input for field/attribute type. Value: {kind}.")
    return check_type(LEGACY_ACTIONS[action], kind)


def check_type(protocol: str, kind: str) -> str:
    """``kind``, when it is a console of ``protocol`` that this cloud serves (Nova's 400
    messages otherwise)."""
    if kind not in PROTOCOLS[protocol]:
        raise Invalid(f"Invalid console type {kind}")
    if kind not in SERVED:
        raise Invalid(f"Unavailable console type {kind}.")
    return kind


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(s: Session, inst: m.Instance, console_type: str, *, address: str,
          port: int | None, ttl: int) -> str:
    """A new token for the server's console (expired tokens are dropped meanwhile)."""
    now = m.utcnow()
    s.execute(delete(m.ConsoleToken).where(m.ConsoleToken.expires_at < now))
    token = secrets.token_urlsafe(32)
    s.add(m.ConsoleToken(token_hash=_digest(token), instance_uuid=inst.uuid,
                         console_type=console_type, host=inst.host or "", address=address,
                         port=port, expires_at=now + timedelta(seconds=ttl)))
    return token


def redeem(s: Session, token: str) -> m.ConsoleToken:
    """The token's console, marked used; unknown, used or expired tokens, and tokens of
    servers since deleted, are refused."""
    now = m.utcnow()
    digest = _digest(token)
    taken = s.execute(update(m.ConsoleToken).where(
        m.ConsoleToken.token_hash == digest, m.ConsoleToken.used_at.is_(None),
        m.ConsoleToken.expires_at >= now).values(used_at=now))
    row = s.get(m.ConsoleToken, digest)
    if not getattr(taken, "rowcount", 0) or row is None:
        raise Forbidden("The console token is unknown, used or expired.")
    inst = s.get(m.Instance, row.instance_uuid)
    if inst is None or inst.deleted:
        raise Forbidden("The console token's server no longer exists.")
    return row


def url(base: str, console_type: str, token: str) -> str:
    """The URL a client opens: noVNC's page, which connects its websocket to
    ``/?token=...``; or the websocket itself for a serial console."""
    base = base.rstrip("/")
    if console_type == "novnc":
        return f"{base}/vnc_lite.html?path={quote('?token=' + token, safe='')}"
    ws = "wss://" + base[len("https://"):] if base.startswith("https://") else \
        "ws://" + base.removeprefix("http://")
    return f"{ws}/?token={token}"
