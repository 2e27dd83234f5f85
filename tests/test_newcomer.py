"""A newcomer's first hour: a fresh clone, set-up, then the README's commands as written.

The commands come from the README itself (the fenced ``sh`` blocks of its Quick start,
Local control and Your own sounds sections), so the README and this test cannot drift:
a command that stops working, or a new one that does not work, fails here. Each runs
in ``bash`` in the clone, with a home folder of its own, and must exit 0 and print
something. The command that starts the device (``./scripts/start``) keeps running: it
is started in the background, and the ``sleepsound ctl`` commands after it talk to it.

Set-up without the network or minutes of pip: the clone's ``.venv`` is a real venv
(``python -m venv --without-pip``) whose ``.pth`` puts the clone's own ``device/``
first and then this interpreter's installed dependencies, with the stamp that
``scripts/setup`` writes after installing. ``./scripts/setup`` (the README's own line)
then runs for real: it checks the apt packages, accepts the venv, and links
``sleepsound`` into a folder on ``PATH`` (a temporary one, via ``SLEEPSOUND_BIN_DIR``,
never the machine's ``/usr/local/bin``). The code that runs is the clone's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import waiting

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Quick start", "Local control", "Presets", "Your own sounds")
"""The README sections whose ``sh`` blocks a newcomer copies, in reading order."""
DAEMON_COMMANDS = ("./scripts/start", "sleepsound run")
"""Commands that start the device and keep running until stopped."""
COMMAND_TIMEOUT_S = 180.0
"""Generous: render and set-up on a loaded shared machine. Not a performance check."""

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


# -- the README, read as a newcomer reads it ----------------------------------------------


def section_text(readme: str, title: str) -> str:
    """The text of ``## title`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, f"the README has no '## {title}' section"
    return match.group(1)


def sh_blocks(text: str) -> list[str]:
    """The fenced ``sh`` blocks of ``text``, dedented (they may sit in a list item)."""
    blocks = re.findall(r"^([ \t]*)```sh\n(.*?)^\1```", text, re.M | re.S)
    return [textwrap.dedent(body) for _, body in blocks]


def commands(block: str) -> list[str]:
    """Shell commands of a block: one a line, with heredocs and ``\\`` continuations."""
    found: list[str] = []
    lines = block.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\") and index < len(lines):
            line = line[:-1] + lines[index]
            index += 1
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
        if heredoc:
            end = heredoc.group(1)
            body = []
            while index < len(lines) and lines[index] != end:
                body.append(lines[index])
                index += 1
            index += 1  # the end marker
            line = "\n".join([line, *body, end])
        found.append(line)
    return found


def readme_commands(readme: str) -> list[str]:
    """Every command of the newcomer's sections, in the order the README gives them."""
    return [
        command
        for title in SECTIONS
        for block in sh_blocks(section_text(readme, title))
        for command in commands(block)
    ]


def test_the_commands_are_read_as_a_shell_would() -> None:
    block = textwrap.dedent(
        """\
        ./scripts/setup   # comment
        # a comment line

        tee a.toml <<EOF
        x = 1
        EOF
        sleepsound render a \\
            --seconds 3
        """
    )
    assert commands(block) == [
        "./scripts/setup   # comment",
        "tee a.toml <<EOF\nx = 1\nEOF",
        "sleepsound render a     --seconds 3",
    ]
    readme = "## Quick start\n\n1. Set up:\n\n   ```sh\n   ./scripts/setup\n   ```\n## Next\n"
    sections = "## Local control\n## Presets\n## Your own sounds\n"
    assert readme_commands(readme + sections) == ["./scripts/setup"]


# -- the clone ----------------------------------------------------------------------------


def _setup_stamp(venv: Path, clone: Path) -> str:
    """What ``scripts/setup`` records after installing (its ``wanted_stamp``)."""
    model = Path("/proc/device-tree/model")
    on_pi = model.exists() and b"Raspberry Pi" in model.read_bytes()
    extras = "test,pi" if on_pi else "test"
    script = (
        '{ sha256sum "$1/pyproject.toml"; echo "extras=$2"; readlink -f "$3/bin/python"; } '
        "| sha256sum | cut -d' ' -f1"
    )
    return subprocess.run(
        ["bash", "-c", script, "stamp", str(clone), extras, str(venv)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _cheap_venv(clone: Path) -> None:
    """``clone/.venv``: the clone's code first, this environment's dependencies after."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = list((venv / "lib").glob("python3*/site-packages"))
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    # A plain path line: the dependencies' own .pth files (this checkout's editable
    # install among them) are not processed, so `sleepsound` is imported from the clone.
    (site / "newcomer.pth").write_text("\n".join([str(clone / "device"), *deps]) + "\n")
    entry = venv / "bin" / "sleepsound"
    entry.write_text(
        f"#!{venv / 'bin' / 'python'}\n"
        "import sys\nfrom sleepsound.cli import main\nsys.exit(main())\n"
    )
    entry.chmod(0o755)
    (venv / ".sleepsound-installed").write_text(_setup_stamp(venv, clone) + "\n")


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A fresh ``git clone`` of this repository at HEAD, with its cheap ``.venv``."""
    target = tmp_path / "sleepsound"
    subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(target)], check=True, capture_output=True
    )
    _cheap_venv(target)
    where = subprocess.run(
        [str(target / ".venv/bin/python"), "-c", "import sleepsound; print(sleepsound.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(target / "device")), f"not the clone's code: {where}"
    return target


@pytest.fixture
def newcomer_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A user of their own: a home folder, a runtime folder, a bin folder first on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    runtime = Path(tempfile.mkdtemp(prefix="ssnew-"))  # short: UNIX socket paths
    bin_dir = tmp_path / "bin"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "SLEEPSOUND_", "NOTIFY_", "WATCHDOG_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        XDG_RUNTIME_DIR=str(runtime),
        SLEEPSOUND_BIN_DIR=str(bin_dir),
        PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
    )
    yield env
    shutil.rmtree(runtime, ignore_errors=True)


# -- the newcomer's first hour -------------------------------------------------------------


class Shell:
    """Runs README commands in the clone as the newcomer; keeps the device it starts."""

    def __init__(self, clone: Path, env: dict[str, str], logs: Path) -> None:
        self.clone = clone
        self.env = env
        self.logs = logs
        self.daemon: subprocess.Popen[bytes] | None = None
        self.daemon_log = logs / "daemon.log"
        self.transcript: list[str] = []

    def run(self, command: str) -> str:
        """Run one command as written; it must exit 0 and say something."""
        if command.startswith(DAEMON_COMMANDS):
            return self._start_daemon(command)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.clone,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        said = result.stdout + result.stderr
        self.transcript.append(f"$ {command}\n{said}")
        assert result.returncode == 0, f"`{command}` exited {result.returncode}:\n{said}"
        assert said.strip(), f"`{command}` printed nothing"
        return said

    def _start_daemon(self, command: str) -> str:
        assert self.daemon is None, "the README starts the device twice"
        with open(self.daemon_log, "wb") as log:
            self.daemon = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.clone,
                env=self.env,
                stdin=subprocess.DEVNULL,  # not a terminal: the device, not the simulator
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        waiting.wait_for(
            self._status,
            lambda code: code == 0,
            f"`{command}` to answer `sleepsound ctl status`",
            timeout_s=COMMAND_TIMEOUT_S,
            interval_s=0.2,
            describe=lambda code: self.daemon_log.read_text(errors="replace"),
        )
        said = self.daemon_log.read_text(errors="replace")
        self.transcript.append(f"$ {command} (running)\n{said}")
        assert said.strip(), f"`{command}` printed nothing"
        return said

    def _status(self) -> int:
        assert self.daemon is not None
        if self.daemon.poll() is not None:
            log = self.daemon_log.read_text(errors="replace")
            raise AssertionError(f"the device exited {self.daemon.returncode}:\n{log}")
        return subprocess.run(
            ["bash", "-c", "sleepsound ctl status"],
            cwd=self.clone,
            env=self.env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
        ).returncode

    def stop(self) -> int | None:
        """SIGTERM the device the README started (it fades out and exits 0)."""
        if self.daemon is None:
            return None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
        try:
            return self.daemon.wait(60)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)
            return None


@pytest.mark.slow
def test_a_newcomer_runs_every_readme_command_as_written(
    clone: Path, newcomer_env: dict[str, str], tmp_path: Path
) -> None:
    readme = (clone / "README.md").read_text()
    to_run = readme_commands(readme)
    # The sections a newcomer copies from are all there and say something.
    assert any(c.startswith("./scripts/setup") for c in to_run), to_run
    assert any(c.startswith(DAEMON_COMMANDS) for c in to_run), to_run
    assert sum(c.startswith("sleepsound ctl ") for c in to_run) >= 5, to_run

    shell = Shell(clone, newcomer_env, tmp_path)
    said: dict[str, str] = {}
    try:
        for command in to_run:
            said[command] = shell.run(command)
    finally:
        stopped = shell.stop()
    transcript = "\n".join(shell.transcript)
    assert stopped == 0, f"the device did not stop cleanly:\n{transcript}"

    # What a newcomer would look at in what the commands said.
    setup = next(out for c, out in said.items() if c.startswith("./scripts/setup"))
    assert "linked" in setup and "sleepsound" in setup, setup
    assert (Path(newcomer_env["SLEEPSOUND_BIN_DIR"]) / "sleepsound").exists()
    check = next(out for c, out in said.items() if c.startswith("sleepsound check-config"))
    assert "config OK: " in check and ".config/sleepsound/config.toml" in check, check
    play = next(out for c, out in said.items() if c.startswith("sleepsound ctl play"))
    assert play.startswith("playing "), play
    listing = next(out for c, out in said.items() if c.strip() == "sleepsound sounds")
    assert "Late rain on the roof" in listing, listing
