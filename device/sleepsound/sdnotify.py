"""systemd's notify protocol (``sd_notify``) over a datagram socket: a thin adapter.

systemd sets ``$NOTIFY_SOCKET`` for ``Type=notify`` services; each message is one
datagram of ``KEY=value`` lines (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``,
``STOPPING=1``). A path starting with ``@`` is in Linux's abstract namespace.
Without ``$NOTIFY_SOCKET`` every call is a no-op, so the daemon runs the same by hand.

The watchdog interval comes from ``$WATCHDOG_USEC`` (honoured only when
``$WATCHDOG_PID`` is unset or names this process, as ``sd_watchdog_enabled`` does).
Sending never raises: a lost notification must not take the player down.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends notifications to systemd, or nothing when not started by systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env.get("NOTIFY_SOCKET", ""))
        self.watchdog_s = _watchdog_s(env)
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when there is a notify socket to talk to."""
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=value`` fields in one datagram; keys are upper-cased.

        ``notify(ready=1, status="playing")`` sends ``READY=1\\nSTATUS=playing``.
        Returns whether the datagram was sent.
        """
        if self.address is None or not fields:
            return False
        lines = (f"{key.upper()}={_one_line(str(value))}" for key, value in fields.items())
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
            self._socket.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as error:
            if not self._warned:  # once: the journal should not fill up with this
                log.warning("cannot notify systemd at %r: %s", self.address, error)
                self._warned = True
            return False
        return True

    def ready(self, status: str) -> bool:
        """Start-up finished: ``READY=1`` with a status line."""
        return self.notify(ready=1, status=status)

    def status(self, status: str) -> bool:
        """A new one-line status for ``systemctl status``."""
        return self.notify(status=status)

    def watchdog(self) -> bool:
        """Tell the watchdog we are alive (``WATCHDOG=1``)."""
        return self.notify(watchdog=1)

    def reloading(self) -> bool:
        """A configuration reload begins (``READY=1`` follows when it is done)."""
        return self.notify(reloading=1, monotonic_usec=time.monotonic_ns() // 1000)

    def stopping(self, status: str = "stopping") -> bool:
        """Shutting down (``STOPPING=1``)."""
        return self.notify(stopping=1, status=status)

    def close(self) -> None:
        """Release the socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _address(path: str) -> str | bytes | None:
    if not path:
        return None
    if path.startswith("@"):
        return b"\0" + path[1:].encode("utf-8")  # abstract namespace: no file behind it
    if path.startswith("/"):
        return path
    return None  # vsock addresses ("vsock:...") are for VMs; not ours


def _watchdog_s(env: Mapping[str, str]) -> float | None:
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. a wrapper script)
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1e6 if usec > 0 else None


def _one_line(text: str) -> str:
    # A newline would start a new KEY=value assignment in the datagram.
    return " ".join(text.splitlines())
