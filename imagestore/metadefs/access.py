"""Who may read and change metadata definitions (Glance's default policy).

Admins create, change and delete everything; every caller reads public
namespaces, and a project its own private ones too. A namespace the caller
cannot see does not exist for it (404), and so do its contents. Deleting a
protected namespace, or anything in it, is refused (403).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from imagestore import models as m
from imagestore.errors import Forbidden, NotFound
from imagestore.policy import Caller


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def can_read(caller: Caller, ns: m.MetadefNamespace) -> bool:
    return caller.is_admin or ns.visibility == "public" or (
        caller.project_id is not None and ns.owner == caller.project_id)


def readable_clause(caller: Caller) -> ColumnElement[bool]:
    """The SQL form of :func:`can_read`."""
    if caller.is_admin:
        return true()
    return or_(m.MetadefNamespace.visibility == "public",
               m.MetadefNamespace.owner == (caller.project_id or ""))


def get(s: Session, caller: Caller, name: str) -> m.MetadefNamespace:
    """The namespace named ``name``; 404 when missing or not visible to the caller."""
    ns = s.scalar(select(m.MetadefNamespace).where(m.MetadefNamespace.namespace == name))
    if ns is None or not can_read(caller, ns):
        raise NotFound(f"Metadata definition namespace={name} was not found.")
    return ns


def check_admin(caller: Caller, action: str) -> None:
    if not caller.is_admin:
        raise Forbidden(f"You are not authorized to complete {action} action.")


def editable(s: Session, caller: Caller, name: str, action: str) -> m.MetadefNamespace:
    """The namespace, for an admin to change (404 first if the caller cannot see it)."""
    ns = get(s, caller, name)
    check_admin(caller, action)
    return ns


def check_unprotected(ns: m.MetadefNamespace, what: str) -> None:
    if ns.protected:
        raise Forbidden(f"Metadata definition namespace {ns.namespace} is protected: "
                        f"{what} cannot be deleted until it is unprotected.")

