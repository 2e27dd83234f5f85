"""The control socket's client: one command to the daemon, its reply back.

``sleepsound ctl`` uses it, and so do scripts and tests; it needs nothing of the
daemon (no numpy, no audio), so ``ctl`` starts quickly.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Mapping
from typing import Any, Final

from sleepsound.errors import ControlError

CLIENT_TIMEOUT_S: Final = 5.0
"""How long ``ctl`` waits for an answer unless told (``--timeout``)."""


def request(
    path: str, command: Mapping[str, Any], timeout_s: float = CLIENT_TIMEOUT_S
) -> dict[str, Any]:
    """Send one command to the daemon at ``path`` and return its reply.

    Raises :class:`ControlError` when no daemon listens there, it does not answer in
    ``timeout_s``, or the answer is not a JSON object.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(
                f"the sleepsound daemon is not running (nothing listens on {path})"
            ) from None
        except PermissionError:
            raise ControlError(
                f"no permission to use {path}: add yourself to the sleepsound group "
                "(sudo usermod -aG sleepsound $USER, then log in again) or use sudo"
            ) from None
        except OSError as error:
            raise ControlError(f"cannot reach the daemon at {path}: {error.strerror}") from None
        data = (json.dumps(dict(command), allow_nan=False) + "\n").encode("utf-8")
        received = bytearray()
        try:
            # A full daemon refuses at once and closes; the line saying why is still
            # there to read even when our send found the connection closed.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(data)
            while b"\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            raise ControlError(f"the daemon at {path} did not answer in {timeout_s:g} s") from None
        except OSError as error:
            raise ControlError(f"lost the connection to {path}: {error.strerror}") from None
    finally:
        sock.close()
    line = bytes(received).split(b"\n", 1)[0]
    try:
        reply = json.loads(line)
    except ValueError:
        raise ControlError(f"the daemon at {path} gave no answer") from None
    if not isinstance(reply, dict):
        raise ControlError(f"the daemon at {path} answered with something else than an object")
    return reply
