"""The control socket's server: an adapter with no policy (the wire format: the package).

It decodes each line with the decoder
every adapter shares (:func:`~sleepsound.command_decoder.decode_command`, so a line
gets the same reply as the same MQTT payload), answers a refused one at once and
hands a checked command to ``submit(command, reply)`` (the daemon's queue); the
daemon calls ``reply`` from its command loop. One thread serves every client through
a selector, without ever blocking on one: lines are capped in size, a client may have
only a few commands in flight (then it is not read until replies drain), a client
that sends nothing and reads nothing for ``idle_timeout_s`` is dropped, and when
all places are taken the longest-idle client makes room for a new one. Nobody can
stall the loop. Whatever goes wrong with one client closes that client only; if
the serving thread stops anyway, :meth:`ControlServer.revive` (the daemon's health
check) starts it again.

The socket file is created mode 0660 (the owner and the service's group); a stale
file left by a crash is replaced, a live daemon's socket is not.

The client is :mod:`sleepsound.control_socket.client`; the words people read for a
state document are :mod:`sleepsound.status_text`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sleepsound.command_decoder import decode_command, error_reply
from sleepsound.commands import Action, reply_error
from sleepsound.errors import CommandError, ControlError

log = logging.getLogger(__name__)

Reply = Callable[[Mapping[str, Any]], None]
Submit = Callable[[object, Reply], None]

SOCKET_MODE: Final = 0o660
MAX_LINE_BYTES: Final = 16 * 1024
"""A command is a few hundred bytes; anything longer is a mistake or an attack."""
MAX_IN_FLIGHT: Final = 8
"""Commands one client may have queued before it is no longer read."""
MAX_CLIENTS: Final = 32
MAX_OUTPUT_BYTES: Final = 256 * 1024
IDLE_TIMEOUT_S: Final = 60.0
ACTION_ALIASES: Final[Mapping[str, Action]] = {"get": "status"}
"""``"get"`` reads like a query to people; on the socket it means ``"status"``."""


@dataclass(eq=False)
class _Client:
    sock: socket.socket
    deadline: float
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    in_flight: int = 0
    events: int = selectors.EVENT_READ
    """What the selector watches for this client now (0: not registered)."""
    eof: bool = False
    """The client has finished sending: answer what it sent, then close."""
    failed: bool = False
    """A fatal error reply is queued: send it, then close."""
    closed: bool = False


class ControlServer:
    """Serves the control socket on its own thread; ``submit`` does the work."""

    def __init__(
        self,
        path: str,
        submit: Submit,
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._submit = submit
        self._idle_timeout_s = idle_timeout_s
        self._max_line = max_line_bytes
        self._max_in_flight = max_in_flight
        self._max_clients = max_clients
        self._clock = clock
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._clients: set[_Client] = set()
        # Replies arrive from the command loop's thread; the serving thread sends them.
        self._outbox: deque[tuple[_Client, bytes]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._quit = False
        self._thread = threading.Thread(target=self._serve, name="sleepsound-control", daemon=True)

    def bind(self) -> None:
        """Create the socket file (replacing a stale one) and listen; no thread yet.

        Raises :class:`ControlError` when another daemon listens there or the folder
        cannot be used.
        """
        listener, self._inode = _bind(self.path)
        listener.listen(16)
        listener.setblocking(False)
        self._listener = listener
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)

    def start(self) -> None:
        """Bind if not yet bound, then serve on a background thread."""
        if self._listener is None:
            self.bind()
        self._thread.start()

    @property
    def serving(self) -> bool:
        """True while the serving thread runs (or has not been started yet)."""
        return self._thread.is_alive() or self._thread.ident is None

    def revive(self) -> bool:
        """Serve again on a new thread if the serving thread has died; True if it had.

        The daemon's health check calls this. The clients of the dead thread are
        closed (their state is unknown); the socket file and listener stay, so
        connections queued meanwhile are answered.
        """
        if self._quit or self._listener is None or self.serving:
            return False
        for client in list(self._clients):
            self._close(client)
        self._outbox.clear()
        # A fresh selector: the old one may be what failed.
        with contextlib.suppress(OSError, ValueError):
            self._selector.close()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._serve, name="sleepsound-control", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop serving, drop the clients and remove the socket file."""
        self._quit = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self._close_all()

    # -- the serving thread ----------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full means a wake-up is pending anyway
            self._wake_w.send(b"\0")

    def _reply_for(self, client: _Client) -> Reply:
        def reply(document: Mapping[str, Any]) -> None:
            self._outbox.append((client, _reply_line(document)))
            self._wake()

        return reply

    def _serve(self) -> None:
        try:
            while not self._quit:
                timeout = self._timeout()
                for key, mask in self._selector.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._serve_client(key.data, mask)
                self._deliver()
                self._expire()
        except Exception:
            log.exception("the control socket failed")
        finally:
            if not self._quit:
                log.error("the control socket stopped serving; the health check restarts it")

    def _serve_client(self, client: _Client, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ:
                self._read(client)
            if mask & selectors.EVENT_WRITE and not client.closed:
                self._write(client)
        except Exception:  # one client's trouble must not end the others' service
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        """Close ``client`` after an unexpected error, with an error reply if it can take one."""
        log.exception("control socket: closing a client after an unexpected error")
        with contextlib.suppress(Exception):
            if not client.closed and not client.failed:
                client.outbuf += b'{"status":"error","error":"internal error; see the log"}\n'
                with contextlib.suppress(OSError):
                    client.sock.send(client.outbuf)
        with contextlib.suppress(Exception):
            self._close(client)

    def _timeout(self) -> float | None:
        if not self._clients:
            return None  # nothing can expire: sleep until a connection or a reply
        soonest = min(client.deadline for client in self._clients)
        return max(0.0, soonest - self._clock())

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.warning("control socket: accept failed: %s", error)
            return
        sock.setblocking(False)
        if len(self._clients) >= self._max_clients:
            self._make_room()
        client = _Client(sock, self._clock() + self._idle_timeout_s)
        self._clients.add(client)
        self._selector.register(sock, selectors.EVENT_READ, client)
        if len(self._clients) > self._max_clients:
            self._fail(client, "too many control connections, all busy; try again")

    def _make_room(self) -> None:
        """Close the longest-idle client, so an idle crowd cannot lock out a new one.

        Idle means nothing in flight and nothing to send; its deadline is the oldest
        activity plus the idle timeout, so the earliest deadline is the longest idle.
        """
        oldest = _longest_idle(self._clients)
        if oldest is None:
            return  # every client is busy: the new one is turned away instead
        log.debug("control socket: full; closing the longest-idle client")
        line = json.dumps(reply_error("closed to make room for another control connection"))
        with contextlib.suppress(OSError):  # best effort: it is closed either way
            oldest.sock.send((line + "\n").encode("ascii"))
        self._close(oldest)

    def _read(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        client.deadline = self._clock() + self._idle_timeout_s
        if data:
            client.inbuf += data
        else:
            client.eof = True
            if client.inbuf and not client.inbuf.endswith(b"\n"):
                client.inbuf += b"\n"  # a last line without its newline (echo -n | nc) counts
        self._take_lines(client)

    def _take_lines(self, client: _Client) -> None:
        while client.in_flight < self._max_in_flight and not client.failed:
            end = client.inbuf.find(b"\n")
            if end < 0:
                if len(client.inbuf) > self._max_line:
                    self._fail(client, f"command too long: at most {self._max_line} bytes a line")
                break
            line = bytes(client.inbuf[:end])
            del client.inbuf[: end + 1]
            # Even a blank line is answered (the decoder calls it empty), as on MQTT:
            # every line gets a reply, so a client never waits for one that never comes.
            self._dispatch(client, line)
        self._update(client)

    def _dispatch(self, client: _Client, line: bytes) -> None:
        if len(line) > self._max_line:
            self._fail(client, f"command too long: at most {self._max_line} bytes a line")
            return
        client.in_flight += 1
        reply = self._reply_for(client)
        try:
            command = decode_command(line, action_aliases=ACTION_ALIASES)
        except CommandError as error:
            reply(error_reply(error))
            return
        try:
            self._submit(command, reply)
        except Exception:  # the daemon is shutting down
            log.exception("control socket: the daemon did not take a command")
            reply(reply_error("the daemon cannot take commands now; see the log"))

    def _deliver(self) -> None:
        while self._outbox:
            client, data = self._outbox.popleft()
            if client.closed:
                continue
            try:
                self._deliver_one(client, data)
            except Exception:  # as in _serve_client: only this client pays
                self._drop(client)

    def _deliver_one(self, client: _Client, data: bytes) -> None:
        client.in_flight -= 1
        client.outbuf += data
        if len(client.outbuf) > MAX_OUTPUT_BYTES:
            log.info("control socket: dropping a client that does not read its replies")
            self._close(client)
            return
        self._write(client)
        if not client.closed:
            self._take_lines(client)

    def _write(self, client: _Client) -> None:
        if client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(client)
                return
            del client.outbuf[:sent]
            if sent:
                client.deadline = self._clock() + self._idle_timeout_s
        self._update(client)

    def _update(self, client: _Client) -> None:
        """Close a finished client, or watch for what it can do next."""
        if client.closed:
            return
        done = client.failed or (client.eof and b"\n" not in client.inbuf)
        if done and not client.outbuf and client.in_flight <= 0:
            self._close(client)
            return
        events = 0
        if client.in_flight < self._max_in_flight and not (client.eof or client.failed):
            events |= selectors.EVENT_READ
        if client.outbuf:
            events |= selectors.EVENT_WRITE
        if events == client.events:
            return
        # A client with commands in flight and nothing to send waits unwatched: that is
        # the back-pressure, it is read again once replies come back.
        if client.events == 0:
            self._selector.register(client.sock, events, client)
        elif events == 0:
            self._selector.unregister(client.sock)
        else:
            self._selector.modify(client.sock, events, client)
        client.events = events

    def _fail(self, client: _Client, message: str) -> None:
        line = json.dumps(reply_error(message)) + "\n"
        client.outbuf += line.encode("utf-8")
        client.failed = True
        client.inbuf.clear()
        self._write(client)

    def _expire(self) -> None:
        now = self._clock()
        for client in [c for c in self._clients if c.deadline <= now]:
            if client.in_flight > 0 and not client.outbuf:
                # Waiting for the daemon, not for the client.
                client.deadline = now + self._idle_timeout_s
                continue
            log.debug("control socket: closing an idle client")
            self._close(client)

    def _close(self, client: _Client) -> None:
        if client.closed:
            return
        client.closed = True
        self._clients.discard(client)
        if client.events:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(client.sock)
        client.sock.close()

    def _close_all(self) -> None:
        for client in list(self._clients):
            self._close(client)
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(self._listener)
            self._listener.close()
            self._listener = None
            self._unlink_own()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _unlink_own(self) -> None:
        # Only our own socket: a second daemon may have replaced it meanwhile.
        with contextlib.suppress(OSError):
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self.path)


def _longest_idle(clients: set[_Client]) -> _Client | None:
    idle = [c for c in clients if c.in_flight <= 0 and not c.outbuf and not c.failed]
    return min(idle, key=lambda c: c.deadline) if idle else None


def _reply_line(document: Mapping[str, Any]) -> bytes:
    """One reply line; it always encodes, so every command gets its answer."""
    try:
        line = json.dumps(document, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # a bug's NaN or object: still answer the line
        log.exception("control socket: a reply could not be written as JSON")
        line = json.dumps(reply_error("internal error: the reply could not be written"))
    # ensure_ascii (the default) escapes everything else, lone surrogates included.
    return (line + "\n").encode("ascii")


def _bind(path: str) -> tuple[socket.socket, tuple[int, int]]:
    """A UNIX socket bound at ``path`` (mode 0660) and the file's (device, inode)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        owner = os.stat(directory).st_uid
    except OSError as error:
        raise ControlError(
            f"cannot create the folder for the control socket {path}: {error.strerror}; "
            "set [socket] path to a writable place"
        ) from None
    if owner not in (os.getuid(), 0):
        raise ControlError(
            f"the folder {directory} of the control socket belongs to another user; "
            "set [socket] path to a folder of your own"
        )
    _remove_stale(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    # The umask makes the file 0660 from the start: no moment with wider access.
    # Bind happens before the daemon starts other threads, so the umask is ours alone.
    old_umask = os.umask(0o117)
    try:
        listener.bind(path)
    except OSError as error:
        listener.close()
        raise ControlError(f"cannot create the control socket {path}: {error.strerror}") from None
    finally:
        os.umask(old_umask)
    os.chmod(path, SOCKET_MODE)
    info = os.stat(path)
    return listener, (info.st_dev, info.st_ino)


def _remove_stale(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ControlError(
            f"{path} exists and is not a socket; remove it or set [socket] path elsewhere"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("replacing the stale control socket %s", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as error:
        raise ControlError(f"cannot check the control socket {path}: {error.strerror}") from None
    finally:
        probe.close()
    raise ControlError(
        f"another sleepsound daemon is already listening on {path}; stop it first "
        "(systemctl stop sleepsound) or set [socket] path elsewhere"
    )
