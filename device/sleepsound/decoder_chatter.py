"""Keeping C decoders' chatter off the terminal and out of the journal.

libsndfile decodes MP3 through mpg123, which writes notes straight to file
descriptor 2 (``Note: Illegal Audio-MPEG-Header 0x… at offset …``, ``Note: Trying
to resync...``, ``[src/libmpg123/layer3.c:…] error: …``) while it skips damage
that playback survives anyway. Nothing in Python sees those writes, so
:func:`install` puts a pipe on fd 2 and a thread reads it: chatter lines go to
logging at DEBUG (``-vv`` shows them), every other line passes through unchanged.

Python's own output (``sys.stderr``: logging, tracebacks, error messages) is moved
to a duplicate of the original fd 2 first, so it never depends on the thread: a
crash report is still written even if the thread is gone. fd 2 is process-wide;
this is shell code, installed once by the command line's ``main``.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import io
import logging
import os
import select
import sys
import threading
from typing import Final

log = logging.getLogger(__name__)

CHATTER_PREFIXES: Final = ("Note: ", "Warning: ", "Big change ", "[src/libmpg123")
"""How mpg123's messages start (its notes, warnings and ``[file:line] error:`` lines)."""

_MAX_PARTIAL: Final = 4096
_PARTIAL_WAIT_S: Final = 0.2
_installed: list[_Pump] = []


def is_chatter(line: str) -> bool:
    """True for a line a C decoder wrote on its own (pure; ``line`` without newline)."""
    return line.startswith(CHATTER_PREFIXES) or "libmpg123" in line


class _Pump:
    """Reads the pipe on fd 2; forwards or logs each line."""

    def __init__(self, read_fd: int, out_fd: int) -> None:
        self.read_fd = read_fd
        self.out_fd = out_fd
        self.thread = threading.Thread(target=self._run, name="stderr-pump", daemon=True)

    def _run(self) -> None:
        pending = b""
        while True:
            if pending:
                # A line without its newline yet: wait a little for the rest, then pass it on.
                ready, _, _ = select.select([self.read_fd], [], [], _PARTIAL_WAIT_S)
                if not ready:
                    self._line(pending)
                    pending = b""
                    continue
            try:
                chunk = os.read(self.read_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    self._line(pending)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._line(line + b"\n")
            if len(pending) > _MAX_PARTIAL:
                self._line(pending)
                pending = b""

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "backslashreplace").rstrip("\n")
        if is_chatter(text):
            log.debug("decoder: %s", text)
            return
        view = memoryview(raw)
        with contextlib.suppress(OSError):
            while view:
                view = view[os.write(self.out_fd, view) :]


def install() -> None:
    """Route fd 2 through the chatter filter (once per process; see the module docstring)."""
    if _installed:
        return
    try:
        sys.stderr.flush()
        out_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, AttributeError, ValueError):
        return  # no usable fd 2 (a daemonised embedder): nothing to filter
    os.set_inheritable(out_fd, False)
    old = sys.stderr
    encoding = getattr(old, "encoding", None) or "utf-8"
    stream = io.TextIOWrapper(
        io.FileIO(out_fd, "w", closefd=False),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    sys.stderr = stream
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is old:
            handler.setStream(stream)
    if faulthandler.is_enabled():
        faulthandler.enable(file=stream)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = _Pump(read_fd, out_fd)
    pump.thread.start()
    _installed.append(pump)
    atexit.register(_uninstall)


def _uninstall() -> None:
    """Put the real fd 2 back and let the pump pass on what is still in the pipe."""
    for pump in _installed:
        with contextlib.suppress(OSError):
            os.dup2(pump.out_fd, 2)  # closes the pipe's last write end: the pump sees EOF
        # Generous: on a loaded machine the pump may need a moment to pass on the last line.
        pump.thread.join(timeout=5.0)
