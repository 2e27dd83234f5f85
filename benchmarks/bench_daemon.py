"""CPU, memory and start-up time of the running daemon (``sleepsound run``).

Starts the real daemon with the clock output (real time, no sound card, no recording)
and a notify socket of its own, as systemd would, then prints:

* start to READY: from spawning the process to its ``READY=1`` datagram;
* CPU of the whole process, idle (stopped) and while playing, as % of one core,
  over ``--seconds`` each, with the busiest threads named;
* peak RSS (``VmHWM``).

Targets on this machine: idle under 0.5 %, playing under 3 %, READY under 1.5 s.
The sound is measured for loudness beforehand, so the background measurement (a
one-off per sound) does not count as playing.

Run: ``.venv/bin/python benchmarks/bench_daemon.py [--seconds 20] [--sound pink-noise]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sleepsound.control_socket.client import request

TARGETS = {"ready_s": 1.5, "idle_pct": 0.5, "playing_pct": 3.0}


def _schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread: (nanoseconds on a CPU, times it was scheduled), from /proc schedstat."""
    stats: dict[int, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            on_cpu, _waited, slices = (task / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        stats[int(task.name)] = (int(on_cpu), int(slices))
    return stats


def measure_cpu(pid: int, seconds: float) -> tuple[float, list[tuple[str, float, float]]]:
    """% of one core used by ``pid`` over ``seconds``; per thread (name, %, wake-ups/s).

    schedstat counts nanoseconds, so figures well under 1 % are still exact (the
    tick-based utime/stime of /proc/PID/stat would round to 10 ms).
    """
    before, start = _schedstat(pid), time.monotonic()
    time.sleep(seconds)
    after, wall = _schedstat(pid), time.monotonic() - start
    threads = []
    for tid, (on_cpu, slices) in after.items():
        old_cpu, old_slices = before.get(tid, (0, 0))
        name = "main" if tid == pid else f"tid {tid}"
        threads.append((name, (on_cpu - old_cpu) / 1e9 / wall * 100, (slices - old_slices) / wall))
    threads.sort(key=lambda item: -item[1])
    return sum(pct for _, pct, _ in threads), threads


def peak_rss_mib(pid: int) -> float:
    """``VmHWM`` of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def warm_loudness(cache_home: Path, sound: str) -> None:
    """Measure ``sound`` into the daemon's cache so playing does not include measuring."""
    from sleepsound.daemon.sounds import DaemonSounds

    sounds = DaemonSounds(None, loudness_cache=cache_home / "sleepsound" / "loudness.json")
    sounds.refresh()
    sounds.loudness.measure_now(sounds.specs().get(sound, sound))


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per measurement")
    parser.add_argument("--sound", default="pink-noise", help="what to play")
    parser.add_argument("--starts", type=int, default=5, help="start-ups timed for READY")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ssbench-"))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_name = f"sleepsound-bench-{uuid.uuid4().hex}"
    notify.bind(b"\0" + notify_name.encode())
    notify.settimeout(60)
    control = work / "ctl.sock"
    config = work / "config.toml"
    config.write_text(
        '[audio]\noutput = "clock"\n'
        f'[socket]\npath = "{control}"\n'
        f'[state]\nfile = "{work / "state.json"}"\n'
        f'[sounds]\ndir = "{work / "sounds"}"\n'
    )
    cache_home = work / "cache"
    warm_loudness(cache_home, args.sound)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET="@" + notify_name, XDG_CACHE_HOME=str(cache_home))
    command = [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)]
    log = open(work / "daemon.log", "wb")  # noqa: SIM115  # closed below, after the child

    def start() -> tuple[subprocess.Popen[bytes], float]:
        started = time.monotonic()
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        while "READY=1" not in notify.recv(4096).decode().splitlines():
            pass
        return child, time.monotonic() - started

    # Extra start-ups for READY only: one figure on a shared machine is luck.
    ready_times = []
    for _ in range(max(0, args.starts - 1)):
        child, seconds = start()
        ready_times.append(seconds)
        child.terminate()
        child.wait(30)
    process, seconds = start()
    ready_times.append(seconds)
    ready_s = statistics.median(ready_times)
    try:
        time.sleep(2.0)  # let start-up work (imports, first blocks) settle
        idle, idle_threads = measure_cpu(process.pid, args.seconds)
        reply = request(str(control), {"action": "play", "sound": args.sound, "volume": 50}, 30)
        if reply.get("status") != "ok":
            print(f"play was refused: {reply}", file=sys.stderr)
            return 1
        time.sleep(3.0)  # past the fade-in
        playing, playing_threads = measure_cpu(process.pid, args.seconds)
        rss = peak_rss_mib(process.pid)
        process.terminate()
        exit_code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        notify.close()

    def mark(value: float, key: str) -> str:
        target = TARGETS[key]
        return f"(target < {target:g})  " + ("ok" if value < target else "OVER TARGET")

    print(f"sleepsound daemon, clock output, {args.sound}, {args.seconds:g} s per figure")
    print(
        f"  start to READY : {ready_s:7.3f} s    {mark(ready_s, 'ready_s')}  (median of "
        f"{len(ready_times)}; min {min(ready_times):.3f}, max {max(ready_times):.3f})"
    )
    print(f"  CPU idle       : {idle:7.3f} %    {mark(idle, 'idle_pct')}")
    print(f"  CPU playing    : {playing:7.3f} %    {mark(playing, 'playing_pct')}")
    print(f"  peak RSS       : {rss:6.1f} MiB")
    for label, threads in (("idle", idle_threads), ("playing", playing_threads)):
        busiest = ", ".join(f"{n} {p:.3f} % ({w:.0f}/s)" for n, p, w in threads[:3])
        print(f"  busiest threads, {label}: {busiest}")
    print(f"  exit after SIGTERM: {exit_code}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
