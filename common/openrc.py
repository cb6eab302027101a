"""OpenStack RC files (``source var/openrc``) for the users bootstrap creates."""

from __future__ import annotations

import shlex
from pathlib import Path

from common.atomicfile import write_atomic
from common.config import StrataConfig


def render(cfg: StrataConfig, user: str, password: str, project: str) -> str:
    """The text of an RC file that points the OpenStack clients at this cloud."""
    values = [
        ("OS_AUTH_URL", f"{cfg.identity_url()}/v3"),
        ("OS_USERNAME", user),
        ("OS_PASSWORD", password),
        ("OS_PROJECT_NAME", project),
        ("OS_USER_DOMAIN_NAME", "Default"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
        ("OS_IDENTITY_API_VERSION", "3"),
        ("OS_REGION_NAME", cfg.region),
        ("OS_INTERFACE", "public"),
    ]
    return exports(f"Strata credentials for {user} in project {project}; source this file.",
                   values)


def exports(comment: str, values: list[tuple[str, str]], tail: str = "") -> str:
    """An RC file: the comment, one quoted ``export`` per value, then ``tail``."""
    lines = [f"# {comment}"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in values]
    return "\n".join(lines) + "\n" + tail


def _write_private(path: Path, text: str) -> None:
    write_atomic(path, text.encode(), mode=0o600)


def write_openrc_files(cfg: StrataConfig) -> list[Path]:
    """Write ``<var>/openrc`` (admin) and ``<var>/demo-openrc`` (demo), mode 0600.

    The demo file is skipped (and a stale one removed) when ``demo_user`` is empty.
    """
    ident = cfg.identity
    var = cfg.var_path
    var.mkdir(parents=True, exist_ok=True)
    admin = var / "openrc"
    _write_private(
        admin,
        render(cfg, ident.admin_user, str(cfg.secrets["admin_password"]), ident.admin_project),
    )
    written = [admin]
    demo = var / "demo-openrc"
    if ident.demo_user:
        _write_private(
            demo,
            render(cfg, ident.demo_user, str(cfg.secrets["demo_password"]), ident.demo_project),
        )
        written.append(demo)
    else:
        demo.unlink(missing_ok=True)
    return written
