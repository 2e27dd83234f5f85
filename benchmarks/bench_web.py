"""What the phone page costs: the web adapter's memory and idle CPU, the page's weight,
and a command's round trip through the API (POST, then the new state on the event stream).

Starts the real daemon (clock output) twice, with ``[web] enabled = false`` and with the
page on a free port, each left stopped and idle: the difference in resident memory
(``VmRSS``) and in CPU time over ``--idle`` seconds is the adapter's. Then, with one page
open (an event stream), it sends ``--commands`` volume changes to ``POST /api/command``
and times each until the stream brings the document that shows it. Targets (issue 16):
at most 20 MB more RSS, about 0 CPU when nobody has the page open, first load at most
150 KB.

Run: ``.venv/bin/python benchmarks/bench_web.py [--idle 20] [--commands 200]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

TARGET_RSS_MB = 20.0
TARGET_PAGE_KB = 150.0
STATIC = Path(__file__).resolve().parent.parent / "device" / "sleepsound" / "web" / "static"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Daemon:
    """One ``sleepsound run`` on the clock output in its own folder."""

    def __init__(self, work: Path, web: str) -> None:
        work.mkdir(parents=True)
        (work / "sounds").mkdir()
        config = work / "config.toml"
        config.write_text(
            '[audio]\noutput = "clock"\n'
            f'[socket]\npath = "{work / "ctl.sock"}"\n'
            f'[state]\nfile = "{work / "state.json"}"\n'
            f'[sounds]\ndir = "{work / "sounds"}"\n'
            f"[web]\n{web}\n"
        )
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = f"sleepsound-bench-{uuid.uuid4().hex}"
        self.notify.bind(b"\0" + name.encode())
        self.notify.settimeout(120)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
        env.update(NOTIFY_SOCKET="@" + name, XDG_CACHE_HOME=str(work / "cache"))
        self.log = open(work / "daemon.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        while "READY=1" not in self.notify.recv(4096).decode().splitlines():
            pass
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        try:
            while True:
                self.notify.recv(4096)
        except OSError:
            return

    def rss_mb(self) -> float:
        """Resident memory now, MB (10^6 bytes)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024 / 1e6

    def cpu_s(self) -> float:
        """User + system CPU seconds so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.process.terminate()
        self.process.wait(30)
        self.notify.close()
        self.log.close()


def page_weight() -> int:
    """Bytes of the first load: the page and every file it names."""
    index = (STATIC / "index.html").read_text()
    names = {"index.html", *re.findall(r'(?:href|src)="/([\w.-]+)"', index)}
    manifest = json.loads((STATIC / "manifest.webmanifest").read_text())
    names |= {icon["src"].lstrip("/") for icon in manifest["icons"]}
    return sum((STATIC / name).stat().st_size for name in names)


def round_trips(port: int, count: int) -> tuple[list[float], list[float]]:
    """(reply ms, state-on-the-stream ms) of ``count`` volume commands."""
    stream = socket.create_connection(("127.0.0.1", port), timeout=30)
    stream.sendall(f"GET /api/events HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    lines = stream.makefile("rb")
    api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    replies, arrivals = [], []
    for i in range(count):
        volume = 10 + i % 40
        body = json.dumps({"volume": volume}).encode()  # bytes: one packet with the headers
        start = time.perf_counter()
        api.request(
            "POST",
            "/api/command",
            body,
            {"Content-Type": "application/json", "Host": f"localhost:{port}"},
        )
        api.getresponse().read()
        replies.append((time.perf_counter() - start) * 1000)
        while True:
            line = lines.readline()
            if line.startswith(b"data: ") and json.loads(line[6:]).get("volume") == volume:
                break
        arrivals.append((time.perf_counter() - start) * 1000)
    stream.close()
    api.close()
    return replies, arrivals


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=20.0, help="idle seconds measured")
    parser.add_argument("--commands", type=int, default=200, help="commands timed")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ssweb-"))
    port = free_port()
    try:
        without = Daemon(work / "off", "enabled = false")
        with_web = Daemon(work / "on", f'listen = "127.0.0.1:{port}"')
        try:
            time.sleep(3.0)  # the adapters start just after READY
            cpu = [without.cpu_s(), with_web.cpu_s()]
            time.sleep(args.idle)
            idle = [without.cpu_s() - cpu[0], with_web.cpu_s() - cpu[1]]
            rss = [without.rss_mb(), with_web.rss_mb()]
            replies, arrivals = round_trips(port, args.commands)
            rss_after = with_web.rss_mb()
        finally:
            without.stop()
            with_web.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    added = rss[1] - rss[0]
    weight_kb = page_weight() / 1000
    print("sleepsound phone page (stdlib ThreadingHTTPServer), clock output, stopped")
    print(
        f"  RSS without [web]: {rss[0]:.1f} MB, with: {rss[1]:.1f} MB; the adapter adds "
        f"{added:.1f} MB (target <= {TARGET_RSS_MB:g}) "
        f"{'ok' if added <= TARGET_RSS_MB else 'OVER TARGET'}"
    )
    print(f"  RSS with the page open after {args.commands} commands: {rss_after:.1f} MB")
    print(
        f"  idle CPU over {args.idle:g} s: {idle[0] / args.idle * 100:.2f} % without, "
        f"{idle[1] / args.idle * 100:.2f} % with the page server"
    )
    print(
        f"  first page load: {weight_kb:.1f} KB uncompressed (target <= {TARGET_PAGE_KB:g}) "
        f"{'ok' if weight_kb <= TARGET_PAGE_KB else 'OVER TARGET'}"
    )
    print(
        f"  POST /api/command reply: p50 {statistics.median(replies):.1f} ms, "
        f"p99 {percentile(replies, 0.99):.1f} ms"
    )
    print(
        f"  command -> state on the event stream: p50 {statistics.median(arrivals):.1f} ms, "
        f"p99 {percentile(arrivals, 0.99):.1f} ms ({args.commands} commands)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
