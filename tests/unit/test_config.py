"""common.config: defaults, file, environment, validation, secrets; the sample file."""

from __future__ import annotations

import json
import logging
import re
import stat
from pathlib import Path

import pytest

from common import config
from common.sample_config import render
from network.api import UNIX_PATH_MAX, metadata_socket

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("STRATA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("STRATA_HOME", str(tmp_path))


def test_defaults(tmp_path: Path) -> None:
    cfg = config.load(with_secrets=False)
    assert cfg.identity.port == 5000 and cfg.identity.enabled is True
    assert cfg.var_path == tmp_path / "var"
    assert cfg.identity_url() == "http://127.0.0.1:5000"
    assert cfg.identity_db_url() == f"sqlite:///{tmp_path}/var/identity.db"


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "strata.toml").write_text(
        'region = "Elsewhere"\n[identity]\nport = 5001\nenabled = false\n')
    cfg = config.load(with_secrets=False)
    assert cfg.region == "Elsewhere" and cfg.identity.port == 5001
    assert cfg.identity.enabled is False
    monkeypatch.setenv("STRATA_IDENTITY_PORT", "5002")
    monkeypatch.setenv("STRATA_IDENTITY_ENABLED", "yes")
    monkeypatch.setenv("STRATA_REGION", "Env")
    cfg = config.load(with_secrets=False)
    assert (cfg.identity.port, cfg.identity.enabled, cfg.region) == (5002, True, "Env")


def test_explicit_path_and_strata_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[identity]\nport = 6000\n")
    assert config.load(str(other), with_secrets=False).identity.port == 6000
    monkeypatch.setenv("STRATA_CONFIG", str(other))
    assert config.load(with_secrets=False).identity.port == 6000
    with pytest.raises(config.ConfigError, match="does not exist"):
        config.load(str(tmp_path / "missing.toml"), with_secrets=False)


@pytest.mark.parametrize("text, message", [
    ("[identity]\nport = 'x'\n", "expected an integer"),
    ("[identity]\nport = 70000\n", "out of range"),
    ("[identity]\nbogus = 1\n", "unknown option 'bogus'"),
    ("nonsense = 1\n", "unknown option 'nonsense'"),
    ("[identity\n", "not valid TOML"),
    ("identity = 3\n", "must be a table"),
    ("[identity]\nenabled = 'maybe'\n", "expected true or false"),
    ("[identity]\ntoken_expiration = 5\n", "at least 60"),
    ("log_level = 'LOUD'\n", "log_level"),
    ("[network]\ninstance = 'Too-Long'\n", "1-4 of a-z"),
    ("[network]\nexternal_network_cidr = '172.24.4.0/33'\n", "not a network CIDR"),
    ("[network]\nprivate_network_cidr = '10.0.0.0/30'\n", "/29 or larger"),
    ("[network]\nbase_mac = '01:00:5e:00:00:00'\n", "unicast"),
    ("[network]\nglobal_mtu = 40\n", "out of range"),
])
def test_bad_config_is_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "strata.toml").write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        config.load(with_secrets=False)


def test_network_defaults_and_instance_tag(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(with_secrets=False)
    assert cfg.network.port == 9696 and cfg.network.dataplane is True
    assert cfg.network.external_network_cidr == "172.24.4.0/24"
    assert cfg.network_url() == "http://127.0.0.1:9696"
    assert cfg.network_db_url() == f"sqlite:///{tmp_path}/var/network.db"
    tag = cfg.network_instance()
    assert re.fullmatch(r"[a-z0-9]{4}", tag)
    # another state directory (another cloud on this machine) gets another tag
    monkeypatch.setenv("STRATA_VAR_DIR", str(tmp_path / "other"))
    assert config.load(with_secrets=False).network_instance() != tag
    monkeypatch.setenv("STRATA_NETWORK_INSTANCE", "dev1")
    assert config.load(with_secrets=False).network_instance() == "dev1"


def test_metadata_socket_default_and_override(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load(with_secrets=False)
    assert cfg.metadata_socket_path == tmp_path / "var" / "run" / "compute-metadata.sock"
    monkeypatch.setenv("STRATA_COMPUTE_METADATA_SOCKET", "md.sock")  # relative to home
    assert config.load(with_secrets=False).metadata_socket_path == tmp_path / "md.sock"
    monkeypatch.setenv("STRATA_COMPUTE_METADATA_SOCKET", "/run/x/md.sock")
    assert config.load(with_secrets=False).metadata_socket_path == Path("/run/x/md.sock")


def test_metadata_off_when_its_socket_path_is_too_long(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The networking service hands the socket to its metadata proxies, unless no UNIX
    socket address can hold it."""
    longest = "/" + "m" * (UNIX_PATH_MAX - 1)
    monkeypatch.setenv("STRATA_COMPUTE_METADATA_SOCKET", longest)
    assert metadata_socket(config.load(with_secrets=False)) == longest
    monkeypatch.setenv("STRATA_COMPUTE_METADATA_SOCKET", longest + "m")
    with caplog.at_level(logging.ERROR, logger="network.api"):
        assert metadata_socket(config.load(with_secrets=False)) == ""
    assert "metadata_socket" in caplog.text and "longer than 107 bytes" in caplog.text


def test_bad_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_IDENTITY_PORT", "five thousand")
    with pytest.raises(config.ConfigError, match=r"\$STRATA_IDENTITY_PORT"):
        config.load(with_secrets=False)


def test_secrets_generated_once_private_and_overridable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.load()
    path = tmp_path / "var" / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert len(stored["admin_password"]) >= 20 and stored["token_keys"]
    assert cfg.secrets == stored
    # stable across loads
    assert config.load().secrets["admin_password"] == stored["admin_password"]
    # the environment overrides a password without rewriting the file
    monkeypatch.setenv("STRATA_IDENTITY_ADMIN_PASSWORD", "from-env")
    assert config.load().secrets["admin_password"] == "from-env"
    assert json.loads(path.read_text())["admin_password"] == stored["admin_password"]
    # loose permissions are tightened
    path.chmod(0o644)
    config.load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_corrupt_secrets_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secrets.json").write_text("{broken")
    with pytest.raises(config.ConfigError, match="corrupt"):
        config.load()


def test_sample_config_is_current_and_complete() -> None:
    sample = (REPO / "strata.toml").read_text()
    assert sample == render(), "strata.toml is stale: python -m common.sample_config > strata.toml"
    # uncommenting every option gives a valid config equal to the defaults
    uncommented = re.sub(r"^# (\w+ = .*)$", r"\1", sample, flags=re.M)
    import tomllib

    data = tomllib.loads(uncommented)
    assert data["identity"]["port"] == 5000
    for name, cls in config.section_types().items():
        documented = set(data[name])
        assert documented == {f.name for f in config.option_fields(cls)}


def test_storage_policies_follow_the_settings() -> None:
    """The parsed policies are remembered per setting value, never past a change."""
    osc = config.ObjectStoreConfig()
    osc.storage_policies, osc.replicas, osc.default_storage_policy = "gold, silver:2", 3, ""
    first = osc.policies()
    assert [(p.index, p.name, p.replicas, p.default) for p in first] == \
        [(0, "gold", 3, True), (1, "silver", 2, False)]
    first.clear()  # a caller's list is its own
    assert len(osc.policies()) == 2
    osc.default_storage_policy = "Silver"
    assert [p.default for p in osc.policies()] == [False, True]
    osc.storage_policies, osc.replicas = "bronze", 2
    assert [(p.name, p.replicas, p.default) for p in osc.policies()] == [("bronze", 2, False)]
