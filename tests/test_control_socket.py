"""The control socket server and client, with a real command loop thread behind them."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from sleepsound import cli
from sleepsound.commands import Command
from sleepsound.control_socket.client import request
from sleepsound.control_socket.server import ControlServer
from sleepsound.errors import ControlError
from sleepsound.status_text import document_of
from support.waiting import wait_until


class Loop:
    """Stands in for the daemon's command loop: one thread answering queued commands.

    ``hold`` keeps commands queued unanswered (a busy loop) until ``release``.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[object, Any]] = queue.Queue()
        self.received: list[object] = []
        self.held = threading.Event()
        self.held.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def submit(self, raw: object, reply: Any) -> None:
        self.received.append(raw)
        self.queue.put((raw, reply))

    def _run(self) -> None:
        while True:
            raw, reply = self.queue.get()
            if raw is None:
                return
            self.held.wait()
            assert isinstance(raw, Command)  # the socket hands on checked commands only
            if raw.action == "status":
                reply({"status": "ok", "state": "playing", "volume": 30})
            else:
                echo = {key: value for key, value in asdict(raw).items() if value is not None}
                reply({"status": "ok", "echo": echo})

    def hold(self) -> None:
        self.held.clear()

    def release(self) -> None:
        self.held.set()

    def close(self) -> None:
        self.release()
        self.queue.put((None, None))


@pytest.fixture
def short_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="ssc-"))  # socket paths must stay short
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.close()


@pytest.fixture
def server(short_dir: Path, loop: Loop) -> Iterator[ControlServer]:
    control = ControlServer(str(short_dir / "run" / "ctl.sock"), loop.submit, idle_timeout_s=30)
    control.start()
    yield control
    control.stop()


def _connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    return sock


def _read_line(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return json.loads(data)


def _closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF, or a reset if data was unread)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_one_reply_line_per_command_in_order(server: ControlServer) -> None:
    with _connect(server.path) as sock:
        lines = [{"volume": n, "transaction": n} for n in range(20)]
        sock.sendall(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
        reader = LineReader(sock)
        replies = [reader.next() for _ in lines]
    assert [reply["echo"] for reply in replies] == lines


class LineReader:
    """Reads reply lines one by one from a socket that may deliver several at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def next(self) -> Any:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, "connection closed"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)


def test_get_and_status_return_the_state_document(server: ControlServer) -> None:
    for action in ("status", "get"):
        reply = request(server.path, {"action": action})
        assert reply == {"status": "ok", "state": "playing", "volume": 30}
        assert document_of(reply) == {"state": "playing", "volume": 30}


def test_the_socket_is_for_owner_and_group_only(server: ControlServer) -> None:
    mode = stat.S_IMODE(os.stat(server.path).st_mode)
    assert mode == 0o660
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)


def test_invalid_json_gets_an_error_and_the_connection_stays_usable(
    server: ControlServer,
) -> None:
    with _connect(server.path) as sock:
        sock.sendall(b"this is not json\n")
        reply = _read_line(sock)
        assert reply["status"] == "error" and "not valid JSON" in reply["error"]
        sock.sendall(b'{"action": "stop"}\n')
        assert _read_line(sock) == {"status": "ok", "echo": {"action": "stop"}}


def test_an_overlong_line_is_refused_and_the_client_dropped(short_dir: Path, loop: Loop) -> None:
    server = ControlServer(str(short_dir / "ctl.sock"), loop.submit, max_line_bytes=1000)
    server.start()
    try:
        with _connect(server.path) as sock:
            sock.sendall(b'{"sound": "' + b"x" * 5000)
            reply = _read_line(sock)
            assert reply["status"] == "error" and "too long" in reply["error"]
            assert _closed(sock)
        assert loop.received == []
        assert request(server.path, {"action": "status"})["status"] == "ok"
    finally:
        server.stop()


def test_a_stalled_client_does_not_block_others(server: ControlServer, loop: Loop) -> None:
    with _connect(server.path) as stalled, _connect(server.path) as flooding:
        stalled.sendall(b'{"action": "pl')  # half a line, then nothing
        # A client that writes commands and never reads the replies.
        flooding.setblocking(False)
        sent = 0
        try:
            while sent < 2_000_000:
                sent += flooding.send(b'{"action": "next"}\n' * 500)
        except BlockingIOError:
            pass
        for _ in range(3):
            assert request(server.path, {"action": "status"}, timeout_s=10)["status"] == "ok"


def test_a_client_gets_only_a_few_commands_in_flight(short_dir: Path, loop: Loop) -> None:
    server = ControlServer(str(short_dir / "ctl.sock"), loop.submit, max_in_flight=4)
    server.start()
    loop.hold()
    try:
        with _connect(server.path) as sock:
            sock.sendall(b'{"action": "next"}\n' * 100)
            wait_until(lambda: len(loop.received) >= 4, "four commands to reach the loop")
            time.sleep(0.3)  # room for more to (wrongly) arrive
            assert len(loop.received) == 4
            loop.release()
            reader = LineReader(sock)
            replies = [reader.next() for _ in range(100)]
        assert all(reply["status"] == "ok" for reply in replies)
        assert len(loop.received) == 100
    finally:
        server.stop()


def test_an_idle_client_is_dropped(short_dir: Path, loop: Loop) -> None:
    server = ControlServer(str(short_dir / "ctl.sock"), loop.submit, idle_timeout_s=0.3)
    server.start()
    try:
        with _connect(server.path) as sock:
            assert _closed(sock)
    finally:
        server.stop()


def test_a_last_line_without_newline_is_answered(server: ControlServer) -> None:
    with _connect(server.path) as sock:
        sock.sendall(b'{"action": "toggle"}')
        sock.shutdown(socket.SHUT_WR)
        assert _read_line(sock) == {"status": "ok", "echo": {"action": "toggle"}}
        assert _closed(sock)


def test_a_stale_socket_file_is_replaced(short_dir: Path, loop: Loop) -> None:
    path = short_dir / "ctl.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays: a crashed daemon's leftover
    server = ControlServer(str(path), loop.submit)
    server.start()
    try:
        assert request(str(path), {"action": "status"})["status"] == "ok"
    finally:
        server.stop()
    assert not path.exists()


def test_a_live_socket_is_not_taken_over(server: ControlServer, loop: Loop) -> None:
    second = ControlServer(server.path, loop.submit)
    with pytest.raises(ControlError, match="already listening"):
        second.bind()
    assert request(server.path, {"action": "status"})["status"] == "ok"


def test_a_file_that_is_not_a_socket_is_left_alone(short_dir: Path, loop: Loop) -> None:
    path = short_dir / "ctl.sock"
    path.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        ControlServer(str(path), loop.submit).bind()
    assert path.read_text() == "precious"


def test_request_names_the_socket_when_nobody_listens(short_dir: Path) -> None:
    path = str(short_dir / "nothing.sock")
    with pytest.raises(ControlError, match=f"not running.*{path}"):
        request(path, {"action": "status"})


# -- hostile lines, a dying thread, idle crowds ---------------------------------------------

HOSTILE_LINES = [
    b'{"volume":' + b"[" * 5000 + b"]" * 5000 + b"}",  # issue 11: killed the thread
    b'{"volume":' + b"[" * 2000 + b"]" * 2000 + b"}",
    b"[" * 16000,
    b'{"volume": 10, "volume": 90}',
    b'{"volume": NaN}',
    b'{"transaction": ' + b"9" * 4000 + b"}",
    b'{"volume": 33, "transaction": "\\ud800"}',
    b'{"\\ud800": 1}',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe\x00\x80",
    b'{"sleep_timer": 1e-300}',
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=lambda line: repr(line)[:24])
def test_a_hostile_line_is_refused_and_the_next_client_is_answered(
    server: ControlServer, loop: Loop, line: bytes
) -> None:
    with _connect(server.path) as sock:
        sock.sendall(line + b"\n")
        reply = _read_line(sock)
        assert reply["status"] == "error" and reply["field"], reply
        # The same connection is still served.
        sock.sendall(b'{"action": "stop"}\n')
        assert _read_line(sock) == {"status": "ok", "echo": {"action": "stop"}}
    assert loop.received == [Command(action="stop")]  # nothing hostile reached the loop
    assert request(server.path, {"action": "status"})["state"] == "playing"


class _Die(BaseException):
    """Not an Exception: gets past every ``except Exception`` and ends the thread."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_server_whose_thread_died_is_revived(short_dir: Path, loop: Loop) -> None:
    def submit(command: object, reply: Any) -> None:
        if isinstance(command, Command) and command.transaction == "die":
            raise _Die
        loop.submit(command, reply)

    server = ControlServer(str(short_dir / "ctl.sock"), submit)
    assert not server.revive()  # not started yet: nothing to revive
    server.start()
    try:
        assert server.serving and not server.revive()
        with _connect(server.path) as sock:
            sock.sendall(b'{"action": "stop", "transaction": "die"}\n')
            wait_until(lambda: not server.serving, "the serving thread to die")
        with pytest.raises(ControlError, match="did not answer"):
            request(server.path, {"action": "status"}, timeout_s=0.5)
        assert server.revive()
        assert request(server.path, {"action": "status"})["state"] == "playing"
        assert server.serving and not server.revive()
    finally:
        server.stop()
    assert not server.revive()  # stopped on purpose: stays stopped


@pytest.mark.parametrize(("places", "crowd"), [(8, 1), (8, 7), (8, 8), (8, 20), (32, 40)])
def test_idle_clients_never_lock_out_a_new_one(
    short_dir: Path, loop: Loop, places: int, crowd: int
) -> None:
    server = ControlServer(str(short_dir / "ctl.sock"), loop.submit, max_clients=places)
    server.start()
    idle: list[socket.socket] = []
    try:
        for _ in range(crowd):
            idle.append(_connect(server.path))
            # Each is accepted before the next connects, so "longest idle" is well defined.
            assert request(server.path, {"action": "status"})["status"] == "ok"
        for _ in range(3):
            assert request(server.path, {"action": "status"})["state"] == "playing"
        # The oldest idle clients were the ones told to go; the newest are still open.
        evicted = [sock for sock in idle if _evicted(sock)]
        # One place is always left for the request itself.
        assert len(evicted) == max(0, crowd - (places - 1))
        assert evicted == idle[: len(evicted)]
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_a_full_server_of_busy_clients_turns_a_new_one_away(short_dir: Path, loop: Loop) -> None:
    server = ControlServer(str(short_dir / "ctl.sock"), loop.submit, max_clients=2)
    server.start()
    loop.hold()
    busy = [_connect(server.path) for _ in range(2)]
    try:
        for sock in busy:
            sock.sendall(b'{"action": "next"}\n')
        wait_until(lambda: len(loop.received) == 2, "both busy commands to reach the loop")
        reply = request(server.path, {"action": "status"}, timeout_s=10)
        assert reply["status"] == "error" and "all busy" in reply["error"]
        loop.release()
        for sock in busy:  # the busy ones were not sacrificed
            assert _read_line(sock) == {"status": "ok", "echo": {"action": "next"}}
    finally:
        for sock in busy:
            sock.close()
        server.stop()


def _evicted(sock: socket.socket) -> bool:
    """True if the server told this client it made room, and closed it.

    No waiting: a client is evicted while the server accepts the next one, before
    it answers that one, so the line is already here once a later request returned.
    """
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    finally:
        sock.settimeout(10)
    return b"make room" in data


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"volume": NaN}', "NaN is not a number"),
        ("[" * 5000, "at most 4096"),
        ('{"volume": ' + "[" * 100 + "]" * 100 + "}", "nested too deeply"),
        ('{"a": 1, "a": 2}', "given twice"),
        ('{"volume": "\\ud800"}', "lone surrogate"),
    ],
)
def test_ctl_send_checks_with_the_daemons_decoder(
    short_dir: Path, capsys: pytest.CaptureFixture[str], text: str, words: str
) -> None:
    code = cli.main(["ctl", "--socket", str(short_dir / "none.sock"), "send", text])
    err = capsys.readouterr().err
    assert code != 0 and words in err and "Traceback" not in err
    assert "not running" not in err  # refused before any attempt to connect


@pytest.mark.parametrize(
    "section",
    ['[socket]\npath = "{path}"\n', '[control]\nsocket = "{path}"\n'],
    ids=["socket", "old name control"],
)
def test_ctl_finds_the_socket_the_config_names(
    server: ControlServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(section.format(path=server.path))
    assert cli.main(["ctl", "--config", str(config), "status"]) == 0
    assert capsys.readouterr().out.startswith("playing")
