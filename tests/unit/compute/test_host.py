"""compute.host: a socket file left by a dead daemon is told apart from a live one."""

from __future__ import annotations

import socket
from pathlib import Path

from compute.host import _listening


def test_a_socket_file_nobody_listens_on_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "stale-sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays behind, as after a daemon died or the machine restarted
    assert path.exists()
    assert not _listening(path)


def test_a_listening_socket_is_live(tmp_path: Path) -> None:
    path = tmp_path / "live-sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen(1)
    try:
        assert _listening(path)
    finally:
        live.close()


def test_a_missing_socket_is_not_listening(tmp_path: Path) -> None:
    assert not _listening(tmp_path / "absent")
