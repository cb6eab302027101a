from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rings import cli
from rings.builder import RingBuilder
from rings.ring import RingData

REPO = Path(__file__).resolve().parents[3]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strata")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(subparsers)
    return parser


def run(*argv: str | Path | int) -> int:
    args = _parser().parse_args(["ring", *map(str, argv)])
    code: int = args.func(args)
    return code


@pytest.fixture
def builder_file(tmp_path: Path) -> Path:
    path = tmp_path / "object.builder"
    assert run("create", path, 8, 3, 1) == 0
    for zone in (1, 2, 3):
        for dev in ("sdb", "sdc"):
            assert run("add", path, f"r1z{zone}-10.0.0.{zone}:6200/{dev}", "100") == 0
    return path


def test_create_add_rebalance_show(builder_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run("rebalance", builder_file, "--seed", 3) == 0
    out = capsys.readouterr().out
    assert "reassigned 768 partition-replicas" in out
    assert "balance 0.00" in out
    ring_file = builder_file.with_name("object.ring.gz")
    data = RingData.load(ring_file)
    assert data.partition_count == 256 and len(data.devs) == 6

    assert run("rebalance", builder_file, "--seed", 3) == 0
    assert "unchanged" in capsys.readouterr().out

    assert run("show", builder_file) == 0
    out = capsys.readouterr().out
    assert "256 partitions, 3 replicas" in out
    assert "10.0.0.2:6200" in out and "sdc" in out
    assert run("show", ring_file) == 0
    assert "ring, 256 partitions (part_power 8), 3 replicas, 6 devices" in capsys.readouterr().out


def test_rebalance_within_min_part_hours_says_so(
    builder_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("rebalance", builder_file) == 0
    assert run("add", builder_file, "r1z1-10.0.0.1:6200/sdd", "100") == 0
    capsys.readouterr()
    assert run("rebalance", builder_file) == 0
    out = capsys.readouterr().out
    assert "reassigned 0 partition-replicas" in out
    assert "min_part_hours (1 h): 60 minutes left" in out


def test_add_with_options_and_several_compact_devices(builder_file: Path) -> None:
    assert (
        run(
            "add",
            builder_file,
            "--region",
            2,
            "--zone",
            4,
            "--ip",
            "10.0.0.9",
            "--port",
            6201,
            "--device",
            "sdd",
            "--weight",
            50,
            "--meta",
            "rack 9",
        )
        == 0
    )
    assert run("add", builder_file, "z5-[::1]:6202/sde_fast", "10", "r3z6-h7:1/x", "1") == 0
    builder = RingBuilder.load(builder_file)
    added = builder.search_devs(device="sdd")[0]
    assert (added.region, added.zone, added.port, added.weight, added.meta) == (
        2,
        4,
        6201,
        50.0,
        "rack 9",
    )
    v6 = builder.search_devs(device="sde")[0]
    assert (v6.region, v6.zone, v6.ip, v6.meta, v6.weight) == (1, 5, "::1", "fast", 10.0)
    assert builder.search_devs(ip="h7")[0].region == 3


def test_remove_and_set_weight(builder_file: Path) -> None:
    assert run("rebalance", builder_file) == 0
    assert run("set-weight", builder_file, 1, 50) == 0
    assert run("remove", builder_file, 0) == 0
    assert run("rebalance", builder_file) == 0
    builder = RingBuilder.load(builder_file)
    assert 0 not in builder.devs
    assert builder.devs[1].weight == 50


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("add", "{b}", "z1-10.0.0.1/sdb", "100"), "bad device 'z1-10.0.0.1/sdb'"),
        (("add", "{b}", "z1-10.0.0.1:6200/sdx"), "has no weight"),
        (("add", "{b}", "z1-10.0.0.1:6200/sdx", "heavy"), "bad weight 'heavy'"),
        (("add", "{b}", "z1-10.0.0.1:6200/sdb", "1"), "already in the ring"),
        (("add", "{b}", "--zone", "1"), "missing --ip, --port, --device, --weight"),
        (("add", "{missing}", "z1-10.0.0.1:6200/sdx", "1"), "does not exist"),
        (("remove", "{b}", "42"), "no device with id 42"),
        (("set-weight", "{b}", "42", "1"), "no device with id 42"),
        (("set-weight", "{b}", "0", "-5"), "weight must be"),
        (("rebalance", "{missing}"), "does not exist"),
        (("show", "{missing}"), "does not exist"),
        (("create", "{b}", "8", "3", "1"), "already exists"),
        (("create", "{tmp}/new.builder", "40", "3", "1"), "part_power"),
    ],
)
def test_errors_exit_2_with_a_message(
    builder_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    capsys.readouterr()
    fill = {"b": builder_file, "missing": tmp_path / "nope.builder", "tmp": tmp_path}
    assert run(*(arg.format(**fill) for arg in argv)) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.startswith("strata ring: error: ")
    assert "Traceback" not in captured.err


def test_unreadable_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "object.builder"
    bad.write_text('{"kind": "strata-ring-builder", "format_version": 9}')
    assert run("show", bad) == 2
    assert "version 9 is not supported" in capsys.readouterr().err
    ring = tmp_path / "object.ring.gz"
    ring.write_bytes(b"\x1f\x8bnot really")
    assert run("show", ring) == 2
    assert "not a ring file" in capsys.readouterr().err
    empty = tmp_path / "empty.builder"
    assert run("create", empty, 4, 3, 1) == 0
    assert run("rebalance", empty) == 2
    assert "no devices" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["create", "add", "remove", "set-weight", "rebalance", "show"])
def test_every_command_has_help_with_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["ring", command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"strata ring {command}" in out


def test_ring_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run() == 2
    assert "create" in capsys.readouterr().err


def test_ring_file_name() -> None:
    assert cli.ring_file_for("/etc/strata/object.builder") == Path("/etc/strata/object.ring.gz")
    assert cli.ring_file_for("container") == Path("container.ring.gz")


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    path = tmp_path / "account.builder"

    def strata(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rings.cli", "ring", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )

    assert strata("create", str(path), "4", "1", "0").returncode == 0
    assert strata("add", str(path), "z1-127.0.0.1:6202/d1", "1").returncode == 0
    done = strata("rebalance", str(path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "account.ring.gz").exists()
    failed = strata("add", str(path), "nonsense", "1")
    assert failed.returncode == 2
    assert "bad device" in failed.stderr and "Traceback" not in failed.stderr
