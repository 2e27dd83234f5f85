"""sd_notify over real datagram sockets, and where the daemon puts its files."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from sleepsound import runpaths
from sleepsound.sdnotify import Notifier


@pytest.fixture
def listener() -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket in the abstract namespace, as systemd may hand out."""
    name = f"@sleepsound-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name[1:].encode())
    sock.settimeout(5)
    yield name, sock
    sock.close()


def test_messages_reach_an_abstract_socket(listener: tuple[str, socket.socket]) -> None:
    address, sock = listener
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready("stopped (pink-noise)\nsecond line")
    assert sock.recv(4096) == b"READY=1\nSTATUS=stopped (pink-noise) second line"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"
    assert notifier.reloading()
    assert sock.recv(4096).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    notifier.close()


def test_messages_reach_a_socket_file() -> None:
    directory = tempfile.mkdtemp(prefix="ssn-")
    try:
        path = os.path.join(directory, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(5)
            assert Notifier({"NOTIFY_SOCKET": path}).status("playing rain")
            assert sock.recv(4096) == b"STATUS=playing rain"
    finally:
        shutil.rmtree(directory)


def test_without_systemd_everything_is_a_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_s is None
    assert not notifier.ready("x") and not notifier.watchdog() and not notifier.stopping()


def test_a_vanished_notify_socket_does_not_raise() -> None:
    notifier = Notifier({"NOTIFY_SOCKET": f"@sleepsound-nobody-{uuid.uuid4().hex}"})
    assert notifier.ready("x") is False
    assert notifier.ready("x") is False


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert Notifier(environ).watchdog_s == expected


def test_paths_under_systemd() -> None:
    env = {
        "RUNTIME_DIRECTORY": "/run/sleepsound",
        "STATE_DIRECTORY": "/var/lib/sleepsound",
        "CACHE_DIRECTORY": "/var/cache/sleepsound",
    }
    assert runpaths.daemon_socket_path(None, env) == "/run/sleepsound/control.sock"
    assert runpaths.state_file_path(None, env) == "/var/lib/sleepsound/state.json"
    assert runpaths.cache_file_path("x.json", env) == "/var/cache/sleepsound/x.json"
    assert runpaths.state_file_path(None, {"STATE_DIRECTORY": "/a:/b"}) == "/a/state.json"


def test_paths_by_hand_are_the_users_own() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/pi"}
    assert runpaths.daemon_socket_path(None, env) == "/run/user/1000/sleepsound/control.sock"
    assert runpaths.state_file_path(None, env) == "/home/pi/.local/state/sleepsound/state.json"
    assert runpaths.cache_file_path("x", env) == "/home/pi/.cache/sleepsound/x"
    bare = runpaths.daemon_socket_path(None, {})
    assert bare == f"/tmp/sleepsound-{os.getuid()}/control.sock"


def test_configured_paths_win() -> None:
    env = {"RUNTIME_DIRECTORY": "/run/sleepsound", "STATE_DIRECTORY": "/var/lib/sleepsound"}
    assert runpaths.daemon_socket_path("/srv/ctl.sock", env) == "/srv/ctl.sock"
    assert runpaths.state_file_path("/srv/state.json", env) == "/srv/state.json"
    assert runpaths.client_socket_paths("/srv/ctl.sock", {}, lambda p: False) == ["/srv/ctl.sock"]


def test_ctl_finds_the_service_socket_or_names_both() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    user = "/run/user/1000/sleepsound/control.sock"
    assert runpaths.client_socket_paths(None, env, lambda p: p == runpaths.SYSTEM_SOCKET) == [
        runpaths.SYSTEM_SOCKET
    ]
    assert runpaths.client_socket_paths(None, env, lambda p: p == user) == [user]
    assert runpaths.client_socket_paths(None, env, lambda p: False) == [
        user,
        runpaths.SYSTEM_SOCKET,
    ]
