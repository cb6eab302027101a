"""identity.grants: roles through groups, OS-INHERIT inheritance down the project
hierarchy, system grants and implied roles, on a real (in-memory) SQLite database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from identity import grants
from identity import models as m


@pytest.fixture
def s() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    m.Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(m.Domain(id="d1", name="D1", description="", enabled=True, tags=[],
                             extra={}))
        session.add(m.Domain(id="d2", name="D2", description="", enabled=True, tags=[],
                             extra={}))
        for name in ("admin", "member", "reader"):
            session.add(m.Role(id=name, name=name, description="", extra={}))
        for pid, parent, dom in (("top", None, "d1"), ("mid", "top", "d1"),
                                 ("leaf", "mid", "d1"), ("other", None, "d2")):
            session.add(m.Project(id=pid, name=pid, domain_id=dom, parent_id=parent,
                                  description="", enabled=True, tags=[], extra={}))
        session.add(m.User(id="u", name="u", domain_id="d1", enabled=True, extra={}))
        session.add(m.Group(id="g", name="g", domain_id="d1", description="", extra={}))
        session.add(m.Membership(user_id="u", group_id="g"))
        session.flush()
        yield session
    engine.dispose()


def grant(s: Session, model: grants.GrantModel, actor: tuple[str, str],
          target: tuple[str, str], role: str) -> None:
    s.add(model(actor_type=actor[0], actor_id=actor[1], target_type=target[0],
                target_id=target[1], role_id=role))
    s.flush()


def test_hierarchy(s: Session) -> None:
    leaf = s.get(m.Project, "leaf")
    assert leaf is not None
    assert [p.id for p in grants.ancestors(s, leaf)] == ["mid", "top"]
    assert [p.id for p in grants.subtree(s, "top")] == ["mid", "leaf"]
    assert grants.inherited_sources(s, leaf) == [("domain", "d1"), ("project", "mid"),
                                                 ("project", "top")]


def test_direct_and_group_grants(s: Session) -> None:
    grant(s, m.Assignment, ("user", "u"), ("project", "mid"), "reader")
    grant(s, m.Assignment, ("group", "g"), ("project", "mid"), "member")
    assert grants.role_ids_on(s, "u", "project", "mid") == {"reader", "member"}
    assert grants.role_ids_on(s, "u", "project", "leaf") == set()  # not inherited
    assert [p.id for p in grants.projects_of(s, "u")] == ["mid"]


def test_inherited_grants_reach_below_never_the_target(s: Session) -> None:
    grant(s, m.InheritedAssignment, ("group", "g"), ("project", "top"), "member")
    assert grants.role_ids_on(s, "u", "project", "top") == set()
    assert grants.role_ids_on(s, "u", "project", "mid") == {"member"}
    assert grants.role_ids_on(s, "u", "project", "leaf") == {"member"}
    grant(s, m.InheritedAssignment, ("user", "u"), ("domain", "d2"), "reader")
    assert grants.role_ids_on(s, "u", "project", "other") == {"reader"}
    assert grants.role_ids_on(s, "u", "domain", "d2") == set()
    assert {p.id for p in grants.projects_of(s, "u")} == {"mid", "leaf", "other"}
    assert {r.name for r in grants.effective_roles(
        s, grants.role_ids_on(s, "u", "project", "leaf"))} == {"member", "reader"}


def test_system_grants(s: Session) -> None:
    assert not grants.has_system_role(s, "u")
    grant(s, m.Assignment, ("group", "g"), ("system", grants.SYSTEM), "admin")
    assert grants.has_system_role(s, "u")
    assert {r.name for r in grants.effective_roles(
        s, grants.role_ids_on(s, "u", "system", grants.SYSTEM))} == {"admin", "member", "reader"}
    assert grants.projects_of(s, "u") == []
