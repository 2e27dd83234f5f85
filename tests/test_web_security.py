"""Who may use the phone page: Host and Origin checks, the password, the login limit."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in, wait_until
from support.broker import free_port
from web_helpers import command, http, serving

pytestmark = pytest.mark.timeout(180)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """A daemon whose page needs a password."""
    folder = tmp_path_factory.mktemp("web-security")
    password_file = folder / "web-password"
    password_file.write_text(PASSWORD + "\n")
    with daemons_in(folder) as make:
        port = free_port()
        made = make(f'[web]\nlisten = "127.0.0.1:{port}"\npassword_file = "{password_file}"\n')
        made.web_port = port
        made.start()
        wait_until(lambda: serving(port), "the page to serve")
        yield made


@pytest.fixture(scope="module")
def cookie(daemon: DaemonProcess) -> str:
    """A logged-in session's Cookie header."""
    answer = http(daemon.web_port, "POST", "/api/login", {"password": PASSWORD})
    assert answer.status == 200
    set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    return set_cookie.split(";")[0]


def test_without_a_session_the_api_says_401_and_the_page_sends_to_login(
    daemon: DaemonProcess,
) -> None:
    assert http(daemon.web_port, "GET", "/api/state").status == 401
    answer = command(daemon.web_port, {"action": "play"})
    assert answer.status == 401
    assert daemon.status()["state"] == "stopped"
    page = http(daemon.web_port, "GET", "/")
    assert page.status == 303 and page.headers["Location"] == "/login.html"
    assert (
        http(
            daemon.web_port, "GET", "/api/state", headers={"Cookie": "sleepsound_session=forged"}
        ).status
        == 401
    )


def test_a_session_opens_the_api(daemon: DaemonProcess, cookie: str) -> None:
    answer = http(daemon.web_port, "GET", "/api/state", headers={"Cookie": cookie})
    assert answer.status == 200 and answer.json() == daemon.status()


def test_a_cross_origin_post_is_refused_and_changes_nothing(
    daemon: DaemonProcess, cookie: str
) -> None:
    before = daemon.status()
    answer = command(
        daemon.web_port,
        {"volume": 5, "action": "play"},
        Origin="http://evil.example",
        Cookie=cookie,
    )
    assert answer.status == 403
    for origin in ("null", "http://localhost.evil.example", "file://"):
        assert command(daemon.web_port, {"volume": 5}, Origin=origin, Cookie=cookie).status == 403
    assert daemon.status() == before
    same_site = command(
        daemon.web_port, {"volume": 7}, Origin=f"http://localhost:{daemon.web_port}", Cookie=cookie
    )
    assert same_site.status == 200
    assert daemon.status()["volume"] == 7


def test_a_host_that_is_not_the_device_is_refused(daemon: DaemonProcess, cookie: str) -> None:
    # DNS rebinding: evil.example now resolves to the device, but the browser still
    # sends its own name.
    before = daemon.status()
    for host in ("evil.example", "evil.example:80", ""):
        headers = {"Host": host, "Cookie": cookie}
        assert http(daemon.web_port, "GET", "/api/state", headers=headers).status == 403
        assert command(daemon.web_port, {"volume": 3}, **headers).status == 403
    assert daemon.status() == before
    assert (
        http(
            daemon.web_port,
            "GET",
            "/api/state",
            headers={"Host": f"127.0.0.1:{daemon.web_port}", "Cookie": cookie},
        ).status
        == 200
    )
    host_name = socket.gethostname()
    assert (
        http(
            daemon.web_port,
            "GET",
            "/api/state",
            headers={"Host": f"{host_name}.local", "Cookie": cookie},
        ).status
        == 200
    )


def test_nothing_changes_by_get_or_by_a_form_post(daemon: DaemonProcess, cookie: str) -> None:
    before = daemon.status()
    assert (
        http(daemon.web_port, "GET", "/api/command?action=play", headers={"Cookie": cookie}).status
        == 404
    )
    form = http(
        daemon.web_port,
        "POST",
        "/api/command",
        '{"action": "play"}',
        {"Content-Type": "text/plain", "Cookie": cookie},
    )
    assert form.status == 415
    assert daemon.status() == before


def test_wrong_passwords_are_refused_and_then_limited(daemon: DaemonProcess) -> None:
    for wrong in ("guess", "", PASSWORD + "x", PASSWORD.upper(), "123456"):
        answer = http(daemon.web_port, "POST", "/api/login", {"password": wrong})
        assert answer.status == 403 and "Set-Cookie" not in answer.headers
    # Now even the right password waits: the limit holds.
    limited = http(daemon.web_port, "POST", "/api/login", {"password": PASSWORD})
    assert limited.status == 429 and "Set-Cookie" not in limited.headers
    assert int(limited.headers["Retry-After"]) > 0
    assert PASSWORD not in daemon.log_text()


def test_a_port_in_use_is_one_log_line_and_the_sound_plays(tmp_path: Path) -> None:
    with socket.socket() as taken, daemons_in(tmp_path) as make:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = make(f'[web]\nlisten = "127.0.0.1:{port}"\n')
        other.start()
        assert other.ctl("play")[0] == 0
        wait_until(lambda: other.status()["state"] == "playing", "the daemon to play")
        errors = [line for line in other.log_text().splitlines() if "phone page" in line]
        assert len(errors) == 1 and "cannot listen on 127.0.0.1" in errors[0], errors
        assert not serving(port)


def test_a_reload_that_moves_the_page_serves_it_on_the_new_port(tmp_path: Path) -> None:
    with daemons_in(tmp_path) as make:
        first, second = free_port(), free_port()
        moving = make(f'[web]\nlisten = "127.0.0.1:{first}"\n')
        moving.start()
        wait_until(lambda: serving(first), "the page on the first port")
        moving.write_config(f'[web]\nlisten = "127.0.0.1:{second}"\n')
        moving.signal(signal.SIGHUP)
        wait_until(lambda: serving(second), "the page on the new port")
        assert not serving(first)
        assert command(second, {"action": "play"}).status == 200
        wait_until(lambda: moving.status()["state"] == "playing", "the daemon to play")
