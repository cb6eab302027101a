"""The shared ``postgres_url`` fixture gives a real, writable PostgreSQL database."""

from __future__ import annotations

import psycopg
import pytest


@pytest.mark.postgres
def test_postgres_url_is_a_real_server(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        conn.execute("CREATE TEMPORARY TABLE t (v text)")
        conn.execute("INSERT INTO t VALUES ('strata')")
        row = conn.execute("SELECT v, current_database() FROM t").fetchone()
    assert row == ("strata", "strata_test")
