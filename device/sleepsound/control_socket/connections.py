"""The clients of the control socket's serving thread: lines in, replies out, limits.

Runs on the serving thread only (see :mod:`~sleepsound.control_socket.server`, which
owns the listener, the thread and the replies arriving from the command loop). Each
line is decoded with the decoder every adapter shares and a checked command handed
to ``submit``; a client may have only a few commands in flight (then it is not read
until replies drain: the back-pressure), lines are capped in size, an idle client is
dropped, and when all places are taken the longest-idle client makes room.
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sleepsound.command_decoder import decode_command, error_reply
from sleepsound.commands import Action, reply_error
from sleepsound.errors import CommandError

log = logging.getLogger(__name__)

Reply = Callable[[Mapping[str, Any]], None]
Submit = Callable[[object, Reply], None]

MAX_OUTPUT_BYTES: Final = 256 * 1024
"""Replies owed to a client that does not read them; past this it is dropped."""
ACTION_ALIASES: Final[Mapping[str, Action]] = {"get": "status"}
"""``"get"`` reads like a query to people; on the socket it means ``"status"``."""


@dataclass(frozen=True)
class Limits:
    """What one client may do, and how many may connect."""

    idle_timeout_s: float
    max_line_bytes: int
    max_in_flight: int
    max_clients: int


@dataclass(eq=False)
class Client:
    """One connection: what it sent and what it is owed."""

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


class Clients:
    """Every connected client of one serving thread, on its selector."""

    def __init__(
        self,
        selector: selectors.BaseSelector,
        submit: Submit,
        reply_for: Callable[[Client], Reply],
        limits: Limits,
        clock: Callable[[], float],
    ) -> None:
        self._selector = selector
        self._submit = submit
        self._reply_for = reply_for
        self._limits = limits
        self._clock = clock
        self._clients: set[Client] = set()

    def close_all(self) -> None:
        """Close every client (the server stops, or its thread died)."""
        for client in list(self._clients):
            self._close(client)

    def serve(self, client: Client, mask: int) -> None:
        """Read from and write to ``client`` as ``mask`` (selector events) allows."""
        try:
            if mask & selectors.EVENT_READ:
                self._read(client)
            if mask & selectors.EVENT_WRITE and not client.closed:
                self._write(client)
        except Exception:  # one client's trouble must not end the others' service
            self._drop(client)

    def _drop(self, client: Client) -> None:
        """Close ``client`` after an unexpected error, with an error reply if it can take one."""
        log.exception("control socket: closing a client after an unexpected error")
        with contextlib.suppress(Exception):
            if not client.closed and not client.failed:
                client.outbuf += b'{"status":"error","error":"internal error; see the log"}\n'
                with contextlib.suppress(OSError):
                    client.sock.send(client.outbuf)
        with contextlib.suppress(Exception):
            self._close(client)

    def timeout(self) -> float | None:
        """Seconds until the next client may expire; None when there is none."""
        if not self._clients:
            return None  # nothing can expire: sleep until a connection or a reply
        soonest = min(client.deadline for client in self._clients)
        return max(0.0, soonest - self._clock())

    def add(self, sock: socket.socket) -> None:
        """Serve a new connection, making room (or turning it away) when all places are taken."""
        sock.setblocking(False)
        if len(self._clients) >= self._limits.max_clients:
            self._make_room()
        client = Client(sock, self._clock() + self._limits.idle_timeout_s)
        self._clients.add(client)
        self._selector.register(sock, selectors.EVENT_READ, client)
        if len(self._clients) > self._limits.max_clients:
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

    def _read(self, client: Client) -> None:
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(client)
            return
        client.deadline = self._clock() + self._limits.idle_timeout_s
        if data:
            client.inbuf += data
        else:
            client.eof = True
            if client.inbuf and not client.inbuf.endswith(b"\n"):
                client.inbuf += b"\n"  # a last line without its newline (echo -n | nc) counts
        self._take_lines(client)

    def _take_lines(self, client: Client) -> None:
        while client.in_flight < self._limits.max_in_flight and not client.failed:
            end = client.inbuf.find(b"\n")
            if end < 0:
                if len(client.inbuf) > self._limits.max_line_bytes:
                    self._too_long(client)
                break
            line = bytes(client.inbuf[:end])
            del client.inbuf[: end + 1]
            # Even a blank line is answered (the decoder calls it empty), as on MQTT:
            # every line gets a reply, so a client never waits for one that never comes.
            self._dispatch(client, line)
        self._update(client)

    def _dispatch(self, client: Client, line: bytes) -> None:
        if len(line) > self._limits.max_line_bytes:
            self._too_long(client)
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

    def deliver(self, client: Client, data: bytes) -> None:
        """Send ``client`` one reply line (nothing if it is gone meanwhile)."""
        if client.closed:
            return
        try:
            self._deliver_one(client, data)
        except Exception:  # as in serve: only this client pays
            self._drop(client)

    def _deliver_one(self, client: Client, data: bytes) -> None:
        client.in_flight -= 1
        client.outbuf += data
        if len(client.outbuf) > MAX_OUTPUT_BYTES:
            log.info("control socket: dropping a client that does not read its replies")
            self._close(client)
            return
        self._write(client)
        if not client.closed:
            self._take_lines(client)

    def _write(self, client: Client) -> None:
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
                client.deadline = self._clock() + self._limits.idle_timeout_s
        self._update(client)

    def _update(self, client: Client) -> None:
        """Close a finished client, or watch for what it can do next."""
        if client.closed:
            return
        done = client.failed or (client.eof and b"\n" not in client.inbuf)
        if done and not client.outbuf and client.in_flight <= 0:
            self._close(client)
            return
        events = 0
        if client.in_flight < self._limits.max_in_flight and not (client.eof or client.failed):
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

    def _too_long(self, client: Client) -> None:
        limit = self._limits.max_line_bytes
        self._fail(client, f"command too long: at most {limit} bytes a line")

    def _fail(self, client: Client, message: str) -> None:
        line = json.dumps(reply_error(message)) + "\n"
        client.outbuf += line.encode("utf-8")
        client.failed = True
        client.inbuf.clear()
        self._write(client)

    def expire(self) -> None:
        """Close the clients idle past their deadline (not those waiting for the daemon)."""
        now = self._clock()
        for client in [c for c in self._clients if c.deadline <= now]:
            if client.in_flight > 0 and not client.outbuf:
                # Waiting for the daemon, not for the client.
                client.deadline = now + self._limits.idle_timeout_s
                continue
            log.debug("control socket: closing an idle client")
            self._close(client)

    def _close(self, client: Client) -> None:
        if client.closed:
            return
        client.closed = True
        self._clients.discard(client)
        if client.events:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(client.sock)
        client.sock.close()


def _longest_idle(clients: set[Client]) -> Client | None:
    idle = [c for c in clients if c.in_flight <= 0 and not c.outbuf and not c.failed]
    return min(idle, key=lambda c: c.deadline) if idle else None
