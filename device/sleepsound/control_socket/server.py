"""The control socket's server: an adapter with no policy (the wire format: the package).

Each line is decoded with the decoder every adapter shares
(:func:`~sleepsound.command_decoder.decode_command`, so a line gets the same reply as
the same MQTT payload); a refused one is answered at once and a checked command
handed to ``submit(command, reply)`` (the daemon's queue); the daemon calls ``reply``
from its command loop. One thread serves every client through a selector, without
ever blocking on one: lines are capped in size, a client may have only a few commands
in flight (then it is not read until replies drain), a client that sends nothing and
reads nothing for ``idle_timeout_s`` is dropped, and when all places are taken the
longest-idle client makes room for a new one. Nobody can stall the loop. Whatever
goes wrong with one client closes that client only; if the serving thread stops
anyway, :meth:`ControlServer.revive` (the daemon's health check) starts it again.
This module owns the socket file, the listener and the thread; the clients and
their limits are :mod:`~sleepsound.control_socket.connections`.

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
from typing import Any, Final

from sleepsound.commands import reply_error
from sleepsound.control_socket.connections import Client, Clients, Limits, Reply, Submit
from sleepsound.errors import ControlError

log = logging.getLogger(__name__)

SOCKET_MODE: Final = 0o660
MAX_LINE_BYTES: Final = 16 * 1024
"""A command is a few hundred bytes; anything longer is a mistake or an attack."""
MAX_IN_FLIGHT: Final = 8
"""Commands one client may have queued before it is no longer read."""
MAX_CLIENTS: Final = 32
IDLE_TIMEOUT_S: Final = 60.0


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
        self._limits = Limits(idle_timeout_s, max_line_bytes, max_in_flight, max_clients)
        self._submit = submit
        self._clock = clock
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._clients = self._new_clients()
        # Replies arrive from the command loop's thread; the serving thread sends them.
        self._outbox: deque[tuple[Client, bytes]] = deque()
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
        self._clients.close_all()
        self._outbox.clear()
        # A fresh selector: the old one may be what failed.
        with contextlib.suppress(OSError, ValueError):
            self._selector.close()
        self._selector = selectors.DefaultSelector()
        self._clients = self._new_clients()
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

    def _new_clients(self) -> Clients:
        return Clients(self._selector, self._submit, self._reply_for, self._limits, self._clock)

    def _reply_for(self, client: Client) -> Reply:
        def reply(document: Mapping[str, Any]) -> None:
            self._outbox.append((client, _reply_line(document)))
            self._wake()

        return reply

    def _serve(self) -> None:
        try:
            while not self._quit:
                timeout = self._clients.timeout()
                for key, mask in self._selector.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        self._clients.serve(key.data, mask)
                self._deliver()
                self._clients.expire()
        except Exception:
            log.exception("the control socket failed")
        finally:
            if not self._quit:
                log.error("the control socket stopped serving; the health check restarts it")

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.warning("control socket: accept failed: %s", error)
            return
        self._clients.add(sock)

    def _deliver(self) -> None:
        while self._outbox:
            client, data = self._outbox.popleft()
            self._clients.deliver(client, data)

    def _close_all(self) -> None:
        self._clients.close_all()
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
