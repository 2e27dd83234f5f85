"""``sleepsound run --simulate`` in a real terminal (tmux), driven by keys as a user would.

tmux runs the simulator in a pane; ``send-keys`` types, ``capture-pane`` reads the
screen. Every wait polls the screen and gives up only after many seconds.
"""

from __future__ import annotations

import calendar
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import CACHE_HOME
from sleepsound.cli.simulator import (
    ViewState,
    controls_text,
    describe_command,
    render,
    sound_text,
    timer_text,
)
from support import waiting

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (scripts/setup)")

CLI = (sys.executable, "-m", "sleepsound.cli")
WAIT_S = 60.0
"""A cold start imports numpy and builds the engine: generous on a shared machine."""


class Pane:
    """One tmux server (a socket of its own) with the simulator in its only pane."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server = f"sleepsound-test-{uuid.uuid4().hex[:12]}"
        # Short paths: a UNIX socket path is limited to 108 bytes.
        self.short = Path(tempfile.mkdtemp(prefix="sssim-"))
        self.config = directory / "config.toml"
        self.config.write_text(
            "[audio]\n"
            'output = "clock"\n'
            "fade_in_s = 0.5\n"
            "fade_out_s = 0.5\n"
            "[socket]\n"
            f'path = "{self.short / "ctl.sock"}"\n'
            "[state]\n"
            f'file = "{directory / "state.json"}"\n'
            "[sounds]\n"
            f'dir = "{directory / "sounds"}"\n'
        )

    def tmux(self, *args: str) -> str:
        """Run a tmux command on our own server; its stdout."""
        return subprocess.run(
            ["tmux", "-L", self.server, *args], check=True, capture_output=True, text=True
        ).stdout

    def start(self, *extra_args: str) -> None:
        """The simulator in a 120x40 pane; afterwards the shell says whether the terminal
        modes are as before (``TTY-SAME``) and the exit status (``EXIT=n``)."""
        command = " ".join(
            shlex.quote(part)
            for part in [
                "env",
                f"XDG_CACHE_HOME={CACHE_HOME}",
                f"XDG_RUNTIME_DIR={self.short}",
                sys.executable,
                "-m",
                "sleepsound.cli",
                "run",
                "--simulate",
                "--config",
                str(self.config),
                *extra_args,
            ]
        )
        script = (
            f'before=$(stty -g); {command}; code=$?; [ "$before" = "$(stty -g)" ] && '
            'echo TTY-SAME; echo "EXIT=$code"; sleep 600'
        )
        # bash, not sh: after a child that handled Ctrl-C itself and exited normally, bash
        # carries on (and reports); dash would die of the SIGINT too.
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "bash", "-c", script)

    def screen(self) -> str:
        """What the pane shows now."""
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        """Type keys (tmux names: ``Space``, ``Right``, ``Enter``, ``+``)."""
        self.tmux("send-keys", *keys)

    def wait_for(self, pattern: str, timeout_s: float = WAIT_S) -> re.Match[str]:
        """Poll the screen until ``pattern`` (a regex, multiline) shows."""
        screen = waiting.wait_for(
            self.screen,
            lambda shown: re.search(pattern, shown, re.MULTILINE),
            f"{pattern!r} to show",
            timeout_s=timeout_s,
            interval_s=0.1,
            describe=lambda shown: f"the screen:\n{shown}",
        )
        match = re.search(pattern, screen, re.MULTILINE)
        assert match is not None
        return match

    def volume(self) -> int:
        """The volume the view shows."""
        return int(self.wait_for(r"^  volume +\[[#.]+\] +(\d+)").group(1))

    def settled_volume(self) -> int:
        """The volume once the finger is idle and the view has shown it unchanged for a second."""
        self.wait_for(r"^  finger +idle")
        last, since = self.volume(), time.monotonic()
        while time.monotonic() - since < 1.0:
            time.sleep(0.1)
            now = self.volume()
            if now != last:
                last, since = now, time.monotonic()
        return last

    def close(self) -> None:
        """Kill our tmux server (and whatever still runs in it)."""
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)
        shutil.rmtree(self.short, ignore_errors=True)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    """A tmux pane for the simulator, killed after the test."""
    made = Pane(tmp_path)
    yield made
    made.close()


def test_keys_play_turn_the_volume_set_the_timer_and_quit(pane: Pane) -> None:
    pane.start()
    pane.wait_for(r"^  state +stopped")
    pane.wait_for(
        r'^  controls +button "main" on GPIO23 \(header pin 16\)'
    )  # the finger can press now

    pane.keys("Space")
    pane.wait_for(r"^  state +playing")
    pane.wait_for(r"^  event +single \(main\)")

    before = pane.volume()
    for _ in range(4):
        pane.keys("+")
    waiting.wait_for(
        pane.volume, lambda v: v > before, "the volume to rise", timeout_s=WAIT_S, interval_s=0.1
    )
    risen = pane.settled_volume()

    pane.keys("Left")
    waiting.wait_for(
        pane.volume, lambda v: v < risen, "the volume to fall", timeout_s=WAIT_S, interval_s=0.1
    )

    pane.keys("l")
    pane.wait_for(r"^  timer +15 min, \d+:\d\d left")
    pane.wait_for(r"^  event +long \(main\)")

    # No sound card here (the clock output): the view says so while playing, not only once.
    pane.wait_for(r"^  output +SILENT: playing to the clock output \(no sound card\)")
    pane.wait_for(r"knob turns on GPIO17\s+\(header pin 11\)")
    # A command from `sleepsound ctl` shows in the view's log, with its outcome.
    ctl = subprocess.run(
        [*CLI, "ctl", "--socket", str(pane.short / "ctl.sock"), "volume", "44"],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert ctl.returncode == 0 and "volume 44" in ctl.stdout, ctl.stderr
    pane.wait_for(r'command \{"volume": 44\}: ok')

    pane.keys("q")
    pane.wait_for(r"^EXIT=0$")
    screen = pane.screen()
    assert "TTY-SAME" in screen, f"the terminal modes were not restored:\n{screen}"
    assert "sleepsound simulator" not in screen, f"the view was left on screen:\n{screen}"


def test_ctrl_c_fades_out_exits_0_and_gives_the_terminal_back(pane: Pane) -> None:
    pane.start()
    pane.wait_for(r'^  controls +button "main" on GPIO23 \(header pin 16\)')
    pane.keys("d")  # a double press: the next sound
    pane.wait_for(r"^  event +double \(main\)")
    pane.keys("Enter")  # the knob's push: no presets here, so toggle, as the main button's press
    pane.wait_for(r"^  event +single \(encoder\)")
    pane.keys("C-c")
    pane.wait_for(r"^EXIT=0$")
    assert "TTY-SAME" in pane.screen()


def test_a_terminal_that_goes_away_ends_the_simulator_instead_of_spinning(pane: Pane) -> None:
    pane.start()
    pane.wait_for(r"^  state +stopped")
    found = subprocess.run(
        ["pgrep", "-f", f"sleepsound.cli run --simulate --config {pane.config}"],
        capture_output=True,
        text=True,
    )
    pids = [int(pid) for pid in found.stdout.split()]
    assert pids, "the simulator's process was not found"
    pane.close()  # the window closes: the terminal hangs up under the simulator

    def alive() -> list[int]:
        return [pid for pid in pids if Path(f"/proc/{pid}").exists()]

    # Before the fix the view spun a core at ~70 % all night on the dead terminal.
    waiting.wait_for(alive, lambda left: not left, "the simulator to exit", timeout_s=WAIT_S)


def test_without_a_terminal_it_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[audio]\noutput = "clock"\n')
    result = subprocess.run(
        [sys.executable, "-m", "sleepsound.cli", "run", "--simulate", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a terminal" in lines[0], result.stderr


# -- the picture, without a terminal ----------------------------------------------------------


def test_timer_text_counts_down_to_the_end() -> None:
    ends = {"sleep_timer": 15, "timer_ends_at": "2030-01-01T00:15:00Z"}
    now = calendar.timegm(time.strptime("2030-01-01T00:01:30Z", "%Y-%m-%dT%H:%M:%SZ"))
    assert timer_text(ends, now) == "15 min, 13:30 left"
    assert timer_text({"sleep_timer": 0}, now) == "off"
    assert timer_text({"sleep_timer": 30, "timer_ends_at": None}, now).startswith("30 min")


def test_render_fits_any_terminal_and_shows_the_led_as_a_bar() -> None:
    view = ViewState(
        document={"state": "playing", "sound": "rain", "volume": 50, "max_volume": 80},
        led_level=0.5,
        led_pin="GPIO26",
        log=[f"line {n}" for n in range(100)],
    )
    lines = render(view, 0.0, width=40, height=20)
    assert len(lines) == 20 and all(len(line) <= 40 for line in lines)
    led = next(line for line in lines if line.startswith("  LED"))
    assert "[##########..........]" in led
    assert lines[-1] == "line 99"  # the newest log line at the foot
    assert render(view, 0.0, width=5, height=2) == ["sleep", ""]


def test_the_view_says_whether_anyone_hears_the_sound_and_wraps_the_error() -> None:
    error = "no sound card: ALSA device 'default' is not there. " + "Connect the card. " * 10
    document = {
        "state": "playing",
        "sound": "late-rain",
        "volume": 30,
        "max_volume": 80,
        "last_error": error,
        "output": {"name": "clock", "audible": False},
    }
    view = ViewState(document=document, titles={"late-rain": "Late rain on the roof"})
    lines = render(view, 0.0, width=80, height=40)
    assert "  sound    Late rain on the roof (late-rain)" in lines
    assert any(line.startswith("  output   SILENT: playing to the clock output") for line in lines)
    # The whole error, wrapped under its label: nothing is cut at the screen's edge.
    start = next(i for i, line in enumerate(lines) if line.startswith("  error    "))
    rows = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" " * 11):
            break
        rows.append(line)
    shown = " ".join(row[11:] for row in rows)
    assert " ".join(error.split()) in " ".join(shown.split()) and len(lines[start]) <= 80
    heard = {**document, "last_error": None, "output": {"name": "default", "audible": True}}
    lines = render(ViewState(document=heard), 0.0, width=80, height=40)
    assert "  output   default (heard)" in lines and "  sound    late-rain" in lines


def test_the_view_names_the_preset_the_running_wake_and_the_next_program() -> None:
    document = {
        "state": "playing",
        "sound": "rain",
        "volume": 30,
        "max_volume": 80,
        "preset": "rainy-night",
        "program": {"name": "morning", "kind": "wake", "phase": "rising", "until": "07:00Z"},
        "next_program": {"name": "bedtime", "kind": "bedtime", "at": "2026-12-03T22:00:00Z"},
        "output": {"name": "default", "audible": True},
    }
    lines = render(ViewState(document=document), 0.0, width=100, height=40)
    assert "  preset   rainy-night" in lines
    assert "  program  wake morning: rising until 07:00Z   (space: snooze, l: dismiss)" in lines
    assert "  next     bedtime bedtime at 2026-12-03T22:00:00Z" in lines
    quiet = {**document, "preset": None, "program": None, "next_program": None}
    shown = "\n".join(render(ViewState(document=quiet), 0.0, width=100, height=40))
    assert "preset" not in shown and "program" not in shown and "next " not in shown


def test_the_controls_and_commands_are_told_in_words() -> None:
    text = controls_text({"main": "GPIO23"}, ("GPIO17", "GPIO27"), "GPIO22", 0)
    assert text == (
        'button "main" on GPIO23 (header pin 16); knob turns on GPIO17 (header pin 11) '
        "and GPIO27 (header pin 13), pushes on GPIO22 (header pin 15)"
    )
    assert (
        controls_text({}, None, None, 2)
        == "no buttons and no knob; 2 wiring problem(s), see the log"
    )
    assert sound_text("rain", {"rain": "Rain"}) == "Rain (rain)" and sound_text(None, {}) == "-"
    ok = describe_command({"action": "play", "transaction": 3}, {"status": "ok"})
    assert ok == 'command {"action": "play"}: ok'
    clamped = describe_command({"volume": 95}, {"status": "ok", "warning": "volume clamped"})
    assert clamped == 'command {"volume": 95}: ok (volume clamped)'
    refused = describe_command({"volume": "x"}, {"status": "error", "error": "volume must be"})
    assert refused == 'command {"volume": "x"}: refused: volume must be'
