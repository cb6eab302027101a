"""Remote console requests and their one-time tokens, on a real SQLite database
migrated as the compute service migrates it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from common.db import migrate
from compute import models as m
from compute.core import consoles
from compute.errors import Forbidden, Invalid
from tests.unit.migrations import assert_migrations_match

MIGRATIONS = Path(__file__).resolve().parents[3] / "compute" / "migrations"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'compute.db'}"
    migrate(url, MIGRATIONS)
    engine = create_engine(url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_migrations_match_the_models(tmp_path: Path) -> None:
    assert_migrations_match(tmp_path, MIGRATIONS, m.Base.metadata, "compute_alembic_version")


@pytest.mark.parametrize(("body", "minor", "message"), [
    ({"remote_console": {"protocol": "spice", "type": "spice-html5"}}, 6,
     "Unavailable console type spice-html5."),
    ({"remote_console": {"protocol": "vnc", "type": "serial"}}, 6, "Invalid console type serial"),
    ({"remote_console": {"protocol": "mks", "type": "webmks"}}, 7, "protocol"),
    ({"remote_console": {"protocol": "mks", "type": "webmks"}}, 8, "Unavailable console type"),
    ({"remote_console": {"protocol": "vnc", "type": "novnc", "x": 1}}, 6, "x was unexpected"),
    ({"remote_console": {"protocol": "vnc"}}, 6, "type"),
    ({"console": {}}, 6, "remote_console"),
    ([], 6, "remote_console"),
])
def test_bad_requests_say_why(body: object, minor: int, message: str) -> None:
    with pytest.raises(Invalid) as err:
        consoles.remote_console(body, minor)
    assert message in err.value.message


def test_served_consoles_and_their_urls() -> None:
    assert consoles.remote_console({"remote_console": {"protocol": "vnc", "type": "novnc"}},
                                   6) == ("vnc", "novnc")
    assert consoles.legacy_console("os-getSerialConsole", {"type": "serial"}) == "serial"
    with pytest.raises(Invalid):
        consoles.legacy_console("os-getVNCConsole", {"type": "serial"})
    assert consoles.url("http://h:6080/", "novnc", "a-b_c") == \
        "http://h:6080/vnc_lite.html?path=%3Ftoken%3Da-b_c"
    assert consoles.url("http://h:6080", "serial", "t") == "ws://h:6080/?token=t"
    assert consoles.url("https://h", "serial", "t") == "wss://h/?token=t"


def _server(s: Session) -> m.Instance:
    inst = m.Instance(project_id="p", user_id="u", display_name="vm", hostname="vm",
                      host="h1", flavor={"name": "m1.nano"}, vcpus=1, memory_mb=128,
                      root_gb=1, reservation_id="r-1")
    s.add(inst)
    s.flush()
    return inst


def test_a_token_opens_once_and_is_kept_hashed(session: Session) -> None:
    inst = _server(session)
    token = consoles.issue(session, inst, "novnc", address="127.0.0.1", port=5901, ttl=60)
    session.commit()
    (row,) = session.scalars(select(m.ConsoleToken))
    assert token not in row.token_hash and len(row.token_hash) == 64
    got = consoles.redeem(session, token)
    assert (got.instance_uuid, got.address, got.port, got.host) == (inst.uuid, "127.0.0.1",
                                                                    5901, "h1")
    session.commit()
    for bad in (token, "nope"):
        with pytest.raises(Forbidden):
            consoles.redeem(session, bad)


def test_expired_tokens_and_deleted_servers_open_nothing(session: Session) -> None:
    inst = _server(session)
    old = consoles.issue(session, inst, "serial", address="/dev/pts/9", port=None, ttl=60)
    row = session.scalars(select(m.ConsoleToken)).one()
    row.expires_at = m.utcnow() - timedelta(seconds=1)
    session.commit()
    with pytest.raises(Forbidden):
        consoles.redeem(session, old)
    live = consoles.issue(session, inst, "serial", address="/dev/pts/9", port=None, ttl=60)
    assert session.scalars(select(m.ConsoleToken)).all() != []  # the expired one went
    assert len(session.scalars(select(m.ConsoleToken)).all()) == 1
    inst.deleted = True
    session.commit()
    with pytest.raises(Forbidden):
        consoles.redeem(session, live)
