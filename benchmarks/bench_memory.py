"""Memory of the running daemon (``sleepsound run``) across everything it may play.

Starts the real daemon on the clock output with an empty loudness cache (so every sound
is measured, as on a fresh device), then plays, one after the other: every built-in
sound, a 192 kHz 8-channel file and a 10-hour file. After each it waits until the
sound's loudness is in the cache (the measurement is part of what playing costs the
first time) and prints the daemon's resident memory now (``VmRSS``) and its peak so far
(``VmHWM``). Target: peak RSS at most 80 MB whatever plays.

Run: ``.venv/bin/python benchmarks/bench_memory.py [--seconds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import soundfile
from bench_engine import make_sparse_wav

from sleepsound.control_socket.client import request
from sleepsound.daemon.sounds import DaemonSounds

TARGET_MB = 80.0


def rss_mb(pid: int) -> tuple[float, float]:
    """(``VmRSS``, ``VmHWM``) of ``pid`` in MB (10^6 bytes, as the target is stated)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024 / 1e6
    return fields["VmRSS"], fields["VmHWM"]


def _drain(notify: socket.socket) -> None:
    """Read and drop notify datagrams until the socket closes (systemd reads them all)."""
    notify.settimeout(None)
    try:
        while True:
            notify.recv(4096)
    except OSError:
        return


def measured(cache: Path, spec: str) -> bool:
    """True once the loudness cache file holds ``spec``."""
    try:
        return spec in json.loads(cache.read_text()).get("entries", {})
    except (OSError, ValueError):
        return False


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="play each sound this long")
    parser.add_argument("--hours", type=float, default=10.0, help="length of the long file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ssmem-"))
    sounds_dir = work / "sounds"
    sounds_dir.mkdir()
    rng = np.random.default_rng(1)
    hires = rng.normal(0.0, 0.05, (192000 * 20, 8)).astype(np.float32)
    soundfile.write(str(sounds_dir / "hires-8ch.flac"), hires, 192000, subtype="PCM_24")
    del hires
    make_sparse_wav(sounds_dir / "ten-hours.wav", args.hours)

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_name = f"sleepsound-bench-{uuid.uuid4().hex}"
    notify.bind(b"\0" + notify_name.encode())
    notify.settimeout(120)
    control = work / "ctl.sock"
    config = work / "config.toml"
    config.write_text(
        '[audio]\noutput = "clock"\n'
        f'[socket]\npath = "{control}"\n'
        f'[state]\nfile = "{work / "state.json"}"\n'
        f'[sounds]\ndir = "{sounds_dir}"\n'
    )
    cache_home = work / "cache"
    cache = cache_home / "sleepsound" / "loudness.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET="@" + notify_name, XDG_CACHE_HOME=str(cache_home))
    command = [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)]
    library = DaemonSounds(str(sounds_dir))
    library.refresh()
    specs = {**{sound: sound for sound in library.ids()}, **library.specs()}
    builtins = [sound for sound in library.ids() if sound == specs[sound]]
    files = [sound for sound in library.ids() if sound != specs[sound]]

    rows: list[tuple[str, float, float]] = []
    with open(work / "daemon.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while "READY=1" not in notify.recv(4096).decode().splitlines():
                pass
            # Keep reading: a notify socket nobody reads fills up and blocks the daemon.
            threading.Thread(target=_drain, args=(notify,), daemon=True).start()
            time.sleep(1.0)
            rows.append(("cold start (READY)", *rss_mb(process.pid)))
            for sound in [*builtins, *files]:
                reply = request(str(control), {"action": "play", "sound": sound}, 120)
                if reply.get("status") != "ok":
                    rows.append((f"{sound}: refused ({reply.get('error')})", *rss_mb(process.pid)))
                    continue
                time.sleep(args.seconds)
                until = time.monotonic() + 300
                while not measured(cache, specs[sound]) and time.monotonic() < until:
                    time.sleep(0.2)
                rows.append((sound, *rss_mb(process.pid)))
                print(f"{sound}: {rows[-1][1]:.1f} MB, peak {rows[-1][2]:.1f}", file=sys.stderr)
            request(str(control), {"action": "stop"}, 30)
            process.terminate()
            process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            notify.close()

    print("sleepsound daemon memory, clock output, cold loudness cache")
    print(f"  {'after playing':<28} {'RSS MB':>7} {'peak MB':>8}")
    for name, now, peak in rows:
        print(f"  {name:<28} {now:7.1f} {peak:8.1f}")
    peak = max(row[2] for row in rows)
    verdict = "ok" if peak <= TARGET_MB else "OVER TARGET"
    print(f"  peak RSS over the run: {peak:.1f} MB (target <= {TARGET_MB:g}) {verdict}")
    if os.environ.get("KEEP"):
        print(f"  (kept {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
