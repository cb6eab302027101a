"""The usage summary's own logic: the period a form asks for, compute's pages of
usage merged per project, the totals and the CSV summaries."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from common.errors import BadRequest
from dashboard.apis import _next_marker
from dashboard.usage import Period, Usage, duration, merge, project_csv, projects_csv

TODAY = date(2026, 12, 6)


def server(name: str, *, vcpus: int = 1, ram: int = 128, disk: int = 1, hours: float = 2.0,
           state: str = "active", uptime: int = 7200) -> dict[str, Any]:
    return {"instance_id": f"id-{name}", "name": name, "vcpus": vcpus, "memory_mb": ram,
            "local_gb": disk, "hours": hours, "state": state, "uptime": uptime}


def doc(project: str, *servers: dict[str, Any]) -> dict[str, Any]:
    return {"tenant_id": project, "server_usages": list(servers),
            "total_vcpus_usage": sum(s["vcpus"] * s["hours"] for s in servers),
            "total_local_gb_usage": sum(s["local_gb"] * s["hours"] for s in servers),
            "total_memory_mb_usage": sum(s["memory_mb"] * s["hours"] for s in servers)}


def test_the_default_period_is_this_month_so_far() -> None:
    period = Period.of({}, TODAY)
    assert period == Period(date(2026, 12, 1), TODAY)
    assert Period.of({"start": " ", "end": ""}, TODAY) == period


def test_a_chosen_period_includes_its_last_day() -> None:
    period = Period.of({"start": "2026-11-01", "end": "2026-11-30"}, TODAY)
    assert period.params() == {"start": "2026-11-01T00:00:00", "end": "2026-12-01T00:00:00"}
    assert period.query() == "start=2026-11-01&end=2026-11-30"


def test_a_date_that_is_not_one_is_refused_with_its_field() -> None:
    with pytest.raises(BadRequest, match=r"From must be a date \(YYYY-MM-DD\), not 'soon'"):
        Period.of({"start": "soon"}, TODAY)
    with pytest.raises(BadRequest, match=r"To must be a date.*'2026-13-01'"):
        Period.of({"end": "2026-13-01"}, TODAY)


def test_pages_of_one_project_are_merged_and_totals_summed() -> None:
    found = merge([doc("p1", server("a"), server("b", vcpus=2, ram=512, disk=10,
                                                 state="terminated")),
                   {}, doc("p2", server("c", hours=1.0)),
                   doc("p1", server("d", hours=0.5))])
    assert set(found) == {"p1", "p2"}
    p1 = found["p1"]
    assert [s.name for s in p1.servers] == ["a", "b", "d"]
    assert p1.vcpu_hours == pytest.approx(2 + 4 + 0.5)
    assert p1.gb_hours == pytest.approx(2 + 20 + 0.5)
    assert p1.ram_mb_hours == pytest.approx(256 + 1024 + 64)
    # what is still there: a and d, not the deleted b
    assert [s.name for s in p1.active] == ["a", "d"]
    assert (p1.active_vcpus, p1.active_ram_mb, p1.active_disk_gb) == (2, 256, 2)
    assert found["p2"].servers[0].since == "2 hours"


def test_duration_in_its_largest_unit() -> None:
    assert duration(-5) == "just now"
    assert duration(59) == "just now"
    assert duration(60) == "1 minute"
    assert duration(3 * 86400 + 7200) == "3 days"


def test_the_next_link_s_marker() -> None:
    href = "http://c/v2.1/os-simple-tenant-usage/p?start=x&limit=2&marker=abc"
    assert _next_marker([{"rel": "next", "href": href}]) == "abc"
    assert _next_marker([{"rel": "self", "href": href}]) == ""
    assert _next_marker([]) == ""


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_project_csv_has_the_totals_then_each_instance() -> None:
    usage = merge([doc("p1", server("web"), server("=cmd|' /C calc'!A0", state="terminated"))])
    got = rows(project_csv("demo", Period(date(2026, 12, 1), TODAY), usage["p1"]))
    assert got[0] == ["Usage report for period", "2026-12-01", "2026-12-06"]
    assert ["Active instances", "1"] in got and ["Active RAM (MB)", "128"] in got
    assert ["This period's VCPU-hours", "4.00"] in got
    assert ["This period's RAM-hours (MB)", "512.00"] in got
    header = got.index(["Instance name", "VCPUs", "RAM (MB)", "Disk (GB)", "Usage (hours)",
                        "Time since created (seconds)", "State"])
    assert got[header + 1] == ["web", "1", "128", "1", "2.00", "7200", "active"]
    # a name a spreadsheet would run as a formula stays text
    assert got[header + 2][0] == "'=cmd|' /C calc'!A0"


def test_the_admin_csv_has_a_line_per_project() -> None:
    usage = merge([doc("p1", server("a", vcpus=2, ram=256, disk=3))])
    empty = Usage("p2", (), 0.0, 0.0, 0.0)
    got = rows(projects_csv(Period(date(2026, 11, 1), date(2026, 11, 30)),
                            [("demo", usage["p1"]), ("other", empty)]))
    assert got[2][0] == "Project name"
    assert got[3] == ["demo", "2", "256", "3", "4.00", "6.00", "512.00"]
    assert got[4] == ["other", "0", "0", "0", "0.00", "0.00", "0.00"]
