"""Loudness measured in a short-lived process: ``python -m sleepsound.library.measure_worker``.

Why a process: measuring imports pyloudnorm and scipy.signal (some 75 MB on a Pi) and
decodes big chunks of audio; memory a Python process once took is not given back, so
measuring in the daemon left it at 180–230 MB for good. The daemon's loudness worker
starts one of these per batch of unmeasured sounds, sends one JSON request per line on
its stdin and reads one JSON reply per line from its stdout; when the batch is done it
closes stdin and the process exits, taking everything it used with it.

Request: ``{"spec": "/path/or/builtin", "out_channels": 2, "builtin": false,
"preset": "/path/to/preset.toml" or null}``. Reply: ``{"measurement": {...}}``
(:meth:`Measurement.to_json`) or ``{"error": "what went wrong"}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sleepsound.errors import SleepsoundError, SoundFileError
from sleepsound.library.loudness import BUILTIN_RATE, Measurement, measure_file, measure_source


def measure(request: dict[str, Any]) -> Measurement:
    """Measure what ``request`` names, in this process (see the module docstring)."""
    spec = str(request["spec"])
    out_channels = int(request.get("out_channels", 2))
    if not request.get("builtin"):
        return measure_file(Path(spec), out_channels)
    # Imported here: only built-in sounds need the renderers.
    from sleepsound.sources.presets import load_preset_file
    from sleepsound.sources.texture_engines import BuiltinOpener

    preset_path = request.get("preset")
    presets = [load_preset_file(Path(preset_path))[0]] if preset_path else []
    source = BuiltinOpener(presets)(spec, BUILTIN_RATE, out_channels)
    try:
        return measure_source(source)
    finally:
        source.close()


def serve(lines: Any, out: Any) -> None:
    """Answer each request line from ``lines`` with one reply line on ``out``."""
    for line in lines:
        if not line.strip():
            continue
        try:
            reply: dict[str, Any] = {"measurement": measure(json.loads(line)).to_json()}
        except (SleepsoundError, OSError, ValueError, KeyError, TypeError) as error:
            reply = {"error": str(error)}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main() -> int:
    """Serve requests from stdin until it closes."""
    with contextlib.suppress(OSError):
        os.nice(10)  # measuring yields to playback, as the in-daemon thread did
    serve(sys.stdin, sys.stdout)
    return 0


class WorkerProcess:
    """The daemon's side: a worker process, started on first use, closed after a batch.

    :meth:`measure` is called from one thread (the loudness worker thread);
    :meth:`kill` may come from another (stopping), and ends a measurement in progress.
    """

    def __init__(self) -> None:
        """Nothing runs until the first :meth:`measure`."""
        self._process: subprocess.Popen[str] | None = None

    def measure(self, request: dict[str, Any]) -> Measurement:
        """Measure in the worker process; raises :class:`SoundFileError` naming the problem."""
        process = self._process
        if process is None or process.poll() is not None:
            process = self._process = subprocess.Popen(
                [sys.executable, "-m", "sleepsound.library.measure_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            line = process.stdout.readline()
        except (OSError, ValueError):
            line = ""
        if not line:
            code = process.wait()
            self._process = None
            raise SoundFileError(
                f"{request.get('spec')}: the loudness worker ended (exit {code}) while measuring"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise SoundFileError(str(reply["error"]))
        return Measurement.from_json(reply["measurement"])

    def close(self) -> None:
        """Let the worker finish and exit (end of a batch): its memory goes back."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def kill(self) -> None:
        """End the worker now, mid-measurement if need be (the daemon is stopping)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
