"""First-start (and every-start) set-up of the identity data.

Idempotent: creates what is missing and brings the configured parts back in
line (admin/demo/service passwords, the catalog of enabled Strata services).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.config import StrataConfig
from common.services import catalog_entries
from identity import models as m
from identity.client import SERVICE_PROJECT, SERVICE_USER
from identity.grants import SYSTEM
from identity.passwords import Passwords

log = logging.getLogger(__name__)

DEFAULT_DOMAIN = "default"
ROLES = ("admin", "member", "reader", "service")
INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    project: str
    roles: tuple[str, ...]
    system_roles: tuple[str, ...] = ()


def accounts(cfg: StrataConfig) -> list[Account]:
    ident = cfg.identity
    out = [
        # As keystone-manage bootstrap: admin on its project and on the system.
        Account(ident.admin_user, cfg.secrets["admin_password"], ident.admin_project,
                ("admin",), ("admin",)),
        Account(SERVICE_USER, cfg.secrets["service_password"], SERVICE_PROJECT,
                ("service",)),
    ]
    if ident.demo_user:
        out.append(Account(ident.demo_user, cfg.secrets["demo_password"], ident.demo_project,
                           ("member",)))
    return out


def _one(s: Session, model: type, **where: object) -> object | None:
    return s.scalar(select(model).filter_by(**where))


def _ensure_base(s: Session, cfg: StrataConfig) -> dict[str, str]:
    if s.get(m.Domain, DEFAULT_DOMAIN) is None:
        s.add(m.Domain(id=DEFAULT_DOMAIN, name="Default", description="The default domain",
                       enabled=True, tags=[], extra={}))
    role_ids: dict[str, str] = {}
    for name in ROLES:
        role = s.scalar(select(m.Role).where(m.Role.name == name))
        if role is None:
            role = m.Role(id=m.new_id(), name=name, description="", extra={})
            s.add(role)
        role_ids[name] = role.id
    if s.get(m.Region, cfg.region) is None:
        s.add(m.Region(id=cfg.region, description="", extra={}))
    s.flush()
    return role_ids


def _ensure_account(s: Session, acct: Account, role_ids: dict[str, str],
                    passwords: Passwords) -> None:
    project = s.scalar(select(m.Project).where(m.Project.name == acct.project,
                                               m.Project.domain_id == DEFAULT_DOMAIN))
    if project is None:
        project = m.Project(id=m.new_id(), name=acct.project, domain_id=DEFAULT_DOMAIN,
                            description=f"Bootstrap project {acct.project}", enabled=True,
                            tags=[], extra={})
        s.add(project)
    user = s.scalar(select(m.User).where(m.User.name == acct.user,
                                         m.User.domain_id == DEFAULT_DOMAIN))
    if user is None:
        user = m.User(id=m.new_id(), name=acct.user, domain_id=DEFAULT_DOMAIN, enabled=True,
                      password_hash=passwords.hash(acct.password),
                      default_project_id=project.id, extra={})
        s.add(user)
        log.info("bootstrap: created user %s", acct.user)
    elif not passwords.verify(user.password_hash, acct.password):
        user.password_hash = passwords.hash(acct.password)
        log.info("bootstrap: reset the password of %s to the configured one", acct.user)
    s.flush()
    for role in acct.roles:
        s.merge(m.Assignment(actor_type="user", actor_id=user.id, target_type="project",
                             target_id=project.id, role_id=role_ids[role]))
    for role in acct.system_roles:
        s.merge(m.Assignment(actor_type="user", actor_id=user.id, target_type="system",
                             target_id=SYSTEM, role_id=role_ids[role]))


def _sync_catalog(s: Session, cfg: StrataConfig) -> None:
    """Publish every enabled Strata service; drop the ones no longer enabled."""
    wanted = {(e.type, e.name): (e, url) for e, url in catalog_entries(cfg)}
    managed = [svc for svc in s.scalars(select(m.Service)) if svc.extra.get("strata")]
    for svc in managed:
        if (svc.type, svc.name) not in wanted:
            s.delete(svc)
    for (typ, name), (entry, url) in wanted.items():
        found = s.scalar(select(m.Service).where(m.Service.type == typ, m.Service.name == name))
        if found is not None:
            svc = found
        else:
            svc = m.Service(id=m.new_id(), type=typ, name=name, enabled=True,
                            description=entry.description, extra={"strata": True})
            s.add(svc)
            s.flush()
        for iface in INTERFACES:
            ep = s.scalar(select(m.Endpoint).where(m.Endpoint.service_id == svc.id,
                                                   m.Endpoint.interface == iface,
                                                   m.Endpoint.region_id == cfg.region))
            if ep is None:
                s.add(m.Endpoint(id=m.new_id(), service_id=svc.id, interface=iface,
                                 region_id=cfg.region, url=url, enabled=True, extra={}))
            elif ep.url != url:
                ep.url = url


def bootstrap(s: Session, cfg: StrataConfig, passwords: Passwords) -> None:
    role_ids = _ensure_base(s, cfg)
    for acct in accounts(cfg):
        _ensure_account(s, acct, role_ids, passwords)
    _sync_catalog(s, cfg)
