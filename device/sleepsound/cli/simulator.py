"""``sleepsound run --simulate``: the whole daemon on mock pins, in a terminal.

The real daemon runs (audio thread, control socket, MQTT if configured) with its
controls built on gpiozero's ``MockFactory`` (PWM pins, so the LED dims as on the
Pi). A curses view shows the state document, the LED's brightness and the last
event, and turns keys into a finger on the mock pins::

    space  short press          d  double press        l  long press (held past hold_time)
    Right / +  knob one detent clockwise      Left / -  one detent counter-clockwise
    Enter  the knob's push switch             q  quit (fades out, exits 0)

Presses go through :class:`~sleepsound.controls.finger.Finger` on a worker thread,
with contact bounce and the timing of a real finger (a long press takes over a
second), so they travel the same path as on the Pi: pin edges, the gesture core,
``daemon.submit``. Keys typed while the finger is busy wait their turn.

No terminal, no view: when stdin or stdout is not a TTY (or ``$TERM`` is unknown),
``--simulate`` prints one line saying so and exits 2 without starting the daemon;
``sleepsound run`` with ``sleepsound ctl`` is the scriptable way.

While the view is up, log lines appear at its foot instead of on stderr, and
anything written straight to file descriptor 2 (alsa-lib's own messages) is held
back; after the terminal is restored, warnings and errors from the log and the held
text are printed, so nothing is lost. The terminal is restored on ``q``, Ctrl-C,
SIGTERM and on errors.
"""

from __future__ import annotations

import calendar
import collections
import contextlib
import curses
import json
import logging
import os
import queue
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gpiozero.pins.mock import MockFactory, MockPWMPin

from sleepsound.commands import Command
from sleepsound.config import Config
from sleepsound.controls.adapter import ControlsAdapter
from sleepsound.controls.finger import Finger
from sleepsound.status_text import output_silence

log = logging.getLogger(__name__)

EXIT_NO_TERMINAL: Final = 2
FRAME_S: Final = 0.1
"""The view redraws (LED animation, timer countdown) and polls keys this often."""
BAR_CELLS: Final = 20
EVENTS_SHOWN: Final = 3
LOG_LINES: Final = 200
HELP: Final = (
    "space press   d double   l long   Right/+ knob up   Left/- knob down   "
    "Enter knob push   q quit"
)

# -- keys -------------------------------------------------------------------------------------

SINGLE: Final = "single"
DOUBLE: Final = "double"
LONG: Final = "long"
CLOCKWISE: Final = "clockwise"
ANTICLOCKWISE: Final = "anticlockwise"
PUSH: Final = "push"
QUIT: Final = "quit"

_KEYS: Final[Mapping[int, str]] = {
    ord(" "): SINGLE,
    ord("d"): DOUBLE,
    ord("D"): DOUBLE,
    ord("l"): LONG,
    ord("L"): LONG,
    ord("+"): CLOCKWISE,
    ord("="): CLOCKWISE,  # "+" without Shift on most layouts
    curses.KEY_RIGHT: CLOCKWISE,
    ord("-"): ANTICLOCKWISE,
    curses.KEY_LEFT: ANTICLOCKWISE,
    ord("\n"): PUSH,
    ord("\r"): PUSH,
    curses.KEY_ENTER: PUSH,
    ord("q"): QUIT,
    ord("Q"): QUIT,
}


def action_for_key(key: int) -> str | None:
    """What a key does (a curses key code), or None for keys that do nothing."""
    return _KEYS.get(key)


# -- the picture (pure) ---------------------------------------------------------------------


@dataclass
class ViewState:
    """Everything the view shows; the shell fills it in, :func:`render` draws it."""

    document: Mapping[str, Any] | None = None
    led_level: float | None = None
    """Perceived brightness 0-1, or None when there is no LED."""
    led_duty: float | None = None
    """The PWM duty cycle on the mock pin (what the LED really gets)."""
    led_pin: str | None = None
    events: list[str] = field(default_factory=list)
    """The latest events, newest first."""
    finger: str = "idle"
    controls: str = "starting"
    stopping: bool = False
    log: list[str] = field(default_factory=list)
    titles: Mapping[str, str] = field(default_factory=dict)
    """Sound id -> title, so people read "Late rain on the roof", not ``late-rain``."""


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """``[#####...............]`` for ``fraction`` 0-1 (clamped)."""
    filled = round(max(0.0, min(1.0, fraction)) * cells)
    return "[" + "#" * filled + "." * (cells - filled) + "]"


def timer_text(document: Mapping[str, Any], now_wall_s: float) -> str:
    """``off``, ``15 min (starts with play)`` or ``15 min, 14:32 left``."""
    minutes = document.get("sleep_timer") or 0
    if not minutes:
        return "off"
    ends = document.get("timer_ends_at")
    if not isinstance(ends, str):
        return f"{minutes:g} min (counts down while playing)"
    try:
        end_s = calendar.timegm(time.strptime(ends, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return f"{minutes:g} min, ends {ends}"
    left = max(0, round(end_s - now_wall_s))
    return f"{minutes:g} min, {left // 60}:{left % 60:02d} left"


def render(view: ViewState, now_wall_s: float, width: int, height: int) -> list[str]:
    """The screen as lines (each at most ``width`` characters, at most ``height`` lines)."""
    lines = ["sleepsound simulator: the daemon on gpiozero's mock pins", ""]
    document = view.document
    if document is None:
        lines.append("  starting the daemon...")
    else:
        volume = int(document.get("volume") or 0)
        max_volume = document.get("max_volume")
        layer = document.get("layer")
        state = str(document.get("state", "?")).replace("_", " ")
        if view.stopping:
            state += "  (quitting: fading out)"
        lines += [
            f"  state    {state}",
            f"  sound    {sound_text(document.get('sound'), view.titles)}",
            f"  volume   {bar(volume / 100)} {volume:3d}   (max {max_volume})",
            f"  timer    {timer_text(document, now_wall_s)}",
        ]
        if isinstance(layer, Mapping):
            layer_sound = sound_text(layer.get("sound"), view.titles)
            lines.append(f"  layer    {layer_sound} at {layer.get('volume')}")
        if document.get("preset"):
            lines.append(f"  preset   {document['preset']}")
        lines += program_lines(document)
        lines.append(f"  output   {output_text(document)}")
        if document.get("last_error"):
            # Wrapped, not cut: the fix is usually at the end of the message.
            lines += _wrapped("  error    ", str(document["last_error"]), width)
    if view.led_level is None:
        lines.append("  LED      none")
    else:
        duty = f", PWM duty {view.led_duty * 100:.1f}%" if view.led_duty is not None else ""
        lines.append(
            f"  LED      {bar(view.led_level)} {view.led_level * 100:3.0f}%   "
            f"({view.led_pin}{duty})"
        )
    # Always as many event rows, so the lines below stay put as events arrive.
    older = view.events[1:EVENTS_SHOWN]
    older += [""] * (EVENTS_SHOWN - 1 - len(older))
    lines += [
        f"  event    {view.events[0] if view.events else '-'}",
        *(f"           {event}" for event in older),
        f"  finger   {view.finger}",
        *_wrapped("  controls ", view.controls, width),
        "",
        "  " + HELP,
        "",
    ]
    room = max(0, height - len(lines))
    if room:
        lines += view.log[-room:]
    return [line[:width] for line in lines[:height]]


def program_lines(document: Mapping[str, Any]) -> list[str]:
    """The running program (and what the button does now), then the next one due."""
    lines = []
    running = document.get("program")
    if isinstance(running, Mapping):
        until = f" until {running['until']}" if running.get("until") else ""
        hint = "   (space: snooze, l: dismiss)" if running.get("kind") == "wake" else ""
        lines.append(
            f"  program  {running.get('kind')} {running.get('name')}: "
            f"{running.get('phase')}{until}{hint}"
        )
    upcoming = document.get("next_program")
    if isinstance(upcoming, Mapping):
        lines.append(
            f"  next     {upcoming.get('kind')} {upcoming.get('name')} at {upcoming.get('at')}"
        )
    return lines


def sound_text(sound_id: object, titles: Mapping[str, str]) -> str:
    """``Late rain on the roof (late-rain)``; the id alone when the title says no more."""
    if not sound_id:
        return "-"
    title = titles.get(str(sound_id))
    return f"{title} ({sound_id})" if title and title != sound_id else str(sound_id)


def controls_text(
    buttons: Mapping[str, str], knob: tuple[str, str] | None, push: str | None, problems: int
) -> str:
    """The wiring in words: which GPIO (and header pin) each control is on."""
    parts = [f'button "{name}" on {_pin_words(pin)}' for name, pin in buttons.items()]
    if knob is not None:
        a, b = knob
        turn = f"knob turns on {_pin_words(a)} and {_pin_words(b)}"
        parts.append(turn + (f", pushes on {_pin_words(push)}" if push else ""))
    text = "; ".join(parts) or "no buttons and no knob"
    if problems:
        text += f"; {problems} wiring problem(s), see the log"
    return text


def _pin_words(gpio: str) -> str:
    """``GPIO23 (header pin 16)``: the name on pinout charts and the pin to count to."""
    from gpiozero import pi_info

    from sleepsound.controls.pin_check import HEADER_REVISION

    try:
        pins = sorted(info.number for _, info in pi_info(HEADER_REVISION).find_pin(gpio))
    except Exception:
        pins = []
    return f"{gpio} (header pin {pins[0]})" if pins else gpio


def describe_command(raw: object, reply: Mapping[str, Any]) -> str:
    """``command {"action": "play"}: ok`` (or the error) for the simulator's log."""
    if isinstance(raw, Command):
        raw = raw.as_object()
    if isinstance(raw, Mapping):
        shown = json.dumps({k: _plain(v) for k, v in raw.items() if k != "transaction"})
    else:
        shown = type(raw).__name__ if not isinstance(raw, str) else raw
    if reply.get("status") == "ok":
        outcome = "ok" + (f" ({reply['warning']})" if reply.get("warning") else "")
    else:
        outcome = f"refused: {reply.get('error')}"
    return f"command {shown}: {outcome}"


def _plain(value: object) -> object:
    """44.0 shown as 44, as the user typed it (commands keep numbers as floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def output_text(document: Mapping[str, Any]) -> str:
    """``default (heard)`` or the SILENT warning, for as long as nobody hears the sound."""
    silent = output_silence(document)
    if silent:
        return silent
    output = document.get("output")
    if isinstance(output, Mapping):
        return f"{output.get('name')} (heard)"
    return "-"


def _wrapped(label: str, text: str, width: int) -> list[str]:
    """``text`` after ``label``, wrapped to ``width`` with the label's indent."""
    room = max(20, width - len(label))
    chunks = textwrap.wrap(text, room) or [""]
    return [label + chunks[0], *(" " * len(label) + chunk for chunk in chunks[1:])]


def describe_event(event: Mapping[str, Any], now_wall_s: float) -> str:
    """``single (main) at 23:41:07``; other events by type and their details."""
    at = time.strftime("%H:%M:%S", time.localtime(now_wall_s))
    kind = str(event.get("event_type", "?"))
    if "button" in event:
        return f"{kind} ({event['button']}) at {at}"
    if event.get("error"):
        return f"{kind}: {event['error']} at {at}"
    return f"{kind} at {at}"


# -- the finger ------------------------------------------------------------------------------


class FingerWorker:
    """Presses one key's worth at a time, in order, off the view's thread."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Callable[[], None]] | None] = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._on_change = on_change
        self._thread = threading.Thread(target=self._run, name="simulator-finger", daemon=True)
        self._thread.start()

    def add(self, label: str, job: Callable[[], None]) -> None:
        """Queue ``job`` (a blocking Finger call) named ``label``."""
        with self._lock:
            self._waiting += 1
        self._jobs.put((label, job))

    def close(self) -> None:
        """Finish the job under way (at most a long press) and stop."""
        self._jobs.put(None)
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            label, job = item
            with self._lock:
                self._waiting -= 1
                waiting = self._waiting
            self._on_change(label + (f" ({waiting} more waiting)" if waiting else ""))
            try:
                job()
            except KeyError as error:  # no such button or encoder in this config
                self._on_change(f"cannot: {error.args[0]}")
                continue
            except Exception:
                log.exception("the simulated finger slipped")
            with self._lock:
                idle = self._waiting == 0
            if idle:
                self._on_change("idle")


# -- the shell -------------------------------------------------------------------------------


class _RingHandler(logging.Handler):
    """Keeps log records for the view (and to re-print the serious ones afterwards)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: collections.deque[logging.LogRecord] = collections.deque(maxlen=LOG_LINES)
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.setFormatter(logging.Formatter("  %(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        self._serious: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the record; one record may be several screen lines."""
        try:
            text = self.format(record)
        except Exception:
            text = f"  {record.getMessage()}"
        self.lines.extend(text.splitlines())
        if record.levelno >= logging.WARNING:
            self._serious.append(record)

    @property
    def serious(self) -> list[logging.LogRecord]:
        """Warnings and errors logged while the view was up."""
        return list(self._serious)


@contextlib.contextmanager
def _log_into(handler: _RingHandler) -> Iterator[None]:
    """Send the log to ``handler`` instead of stderr; afterwards print what matters."""
    root = logging.getLogger()
    saved = list(root.handlers)
    for old in saved:
        root.removeHandler(old)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for old in saved:
            root.addHandler(old)
        for record in handler.serious:
            for old in saved:
                if record.levelno >= old.level:
                    old.handle(record)


@contextlib.contextmanager
def _hold_stderr() -> Iterator[None]:
    """Keep writes to fd 2 (alsa-lib, stray tracebacks) off the screen; replay them after."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read()
            if text:
                sys.stderr.buffer.write(text)
                sys.stderr.flush()


class TerminalView:
    """The curses view and the daemon listener that feeds it."""

    def __init__(self, daemon: Any, factory: MockFactory, ring: _RingHandler) -> None:
        self.daemon = daemon
        self.factory = factory
        self.ring = ring
        self.view = ViewState()
        self._lock = threading.Lock()
        self._adapter: ControlsAdapter | None = None
        self._finger: Finger | None = None
        self._closing = threading.Event()
        self._worker = FingerWorker(self._finger_said)
        self._thread = threading.Thread(target=self._run, name="simulator-view", daemon=True)

    # -- fed by the daemon (loop thread) and the adapter (start-up thread) ---------------------

    def on_status(self, document: Mapping[str, Any]) -> None:
        """Daemon listener: a new state document."""
        titles = self.daemon.sound_titles
        with self._lock:
            self.view.document = dict(document)
            self.view.titles = titles

    def on_command(self, raw: object, reply: Mapping[str, Any]) -> None:
        """Daemon listener: a command (ctl, MQTT or the controls) and its reply, logged."""
        if isinstance(raw, Mapping) and raw.get("action") in ("status", "get"):
            return  # queries change nothing (and `ctl` asks one after every command)
        log.info("%s", describe_command(raw, reply))

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Daemon listener: a gesture, the timer running out, a playback error."""
        text = describe_event(event, time.time())
        with self._lock:
            self.view.events = [text, *self.view.events[: EVENTS_SHOWN - 1]]

    def attach(self, adapter: ControlsAdapter) -> None:
        """The controls are built and started: the finger may press them now."""
        controls = adapter.controls
        _, push = _buttons(adapter)
        pins = {b.name: b.pin for b in controls.buttons}
        text = controls_text(
            {name: pin for name, pin in pins.items() if name != push},
            controls.encoder_pins,
            pins.get(push) if push else None,
            len(controls.problems),
        )
        with self._lock:
            self._adapter = adapter
            self._finger = Finger(self.factory, controls)
            self.view.controls = text
            self.view.led_pin = controls.led_pin

    def _finger_said(self, text: str) -> None:
        with self._lock:
            self.view.finger = text

    # -- the view thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Take over the terminal and start drawing."""
        self._thread.start()

    def close(self) -> None:
        """Stop drawing and give the terminal back as it was."""
        self._closing.set()
        self._thread.join(timeout=5.0)
        self._worker.close()

    def _run(self) -> None:
        screen = None
        try:
            screen = curses.initscr()
            curses.noecho()
            curses.cbreak()  # Ctrl-C still signals: the daemon fades out as on SIGINT
            screen.keypad(True)
            with contextlib.suppress(curses.error):
                curses.curs_set(0)
            screen.timeout(round(FRAME_S * 1000))
            while not self._closing.is_set():
                self._draw(screen)
                key = screen.getch()
                if key != -1:
                    self._key(key)
                elif not _terminal_present():
                    # The terminal hung up (a closed window, a killed tmux): getch now returns
                    # at once, so the view would spin a core all night. SIGHUP means "reload"
                    # to the daemon, so nothing else ends the simulation: end it here.
                    log.warning("the simulator's terminal went away; stopping the daemon")
                    self.daemon.request_stop()
                    break
        except Exception:
            log.exception("the simulator's view failed; stopping the daemon")
            self.daemon.request_stop()
        finally:
            if screen is not None:
                with contextlib.suppress(curses.error):
                    screen.keypad(False)
                    curses.nocbreak()
                    curses.echo()
                    curses.endwin()

    def _snapshot(self) -> ViewState:
        with self._lock:
            adapter = self._adapter
            view = ViewState(**vars(self.view))
            view.events = list(view.events)
        view.log = list(self.ring.lines)
        if adapter is not None:
            controls = adapter.controls
            view.led_level = controls.led_level if controls.led_pin else None
            if controls.led_pin:
                with contextlib.suppress(Exception):
                    view.led_duty = float(self.factory.pin(controls.led_pin).state)
        return view

    def _draw(self, screen: Any) -> None:
        height, width = screen.getmaxyx()
        screen.erase()
        # The bottom-right cell cannot be written without an error; stay clear of it.
        for row, line in enumerate(render(self._snapshot(), time.time(), width - 1, height)):
            with contextlib.suppress(curses.error):
                screen.addstr(row, 0, line, curses.A_BOLD if row == 0 else curses.A_NORMAL)
        screen.refresh()

    def _key(self, key: int) -> None:
        action = action_for_key(key)
        if action is None:
            return
        if action == QUIT:
            with self._lock:
                self.view.stopping = True
            self.daemon.request_stop()
            return
        with self._lock:
            finger, adapter, stopping = self._finger, self._adapter, self.view.stopping
        if stopping:
            return
        if finger is None or adapter is None:
            self._finger_said("the controls are not running (see the log)")
            return
        main, push = _buttons(adapter)
        if action == CLOCKWISE:
            self._worker.add("turning the knob clockwise", lambda: finger.turn(+1))
        elif action == ANTICLOCKWISE:
            self._worker.add("turning the knob counter-clockwise", lambda: finger.turn(-1))
        elif action == PUSH:
            if push is None:
                self._finger_said("there is no working encoder push switch")
            else:
                self._worker.add(f"pushing the knob ({push})", lambda: finger.click(push))
        elif main is None:
            self._finger_said("there is no working button")
        elif action == SINGLE:
            self._worker.add(f"pressing {main}", lambda: finger.click(main))
        elif action == DOUBLE:
            self._worker.add(f"double-pressing {main}", lambda: finger.double_click(main))
        elif action == LONG:
            self._worker.add(f"holding {main} down", lambda: finger.long_press(main))


def _buttons(adapter: ControlsAdapter) -> tuple[str | None, str | None]:
    """The first plain button and the encoder's push switch, by name (None if absent)."""
    controls = adapter.controls
    encoder = controls.controls_config.encoder
    names = [b.name for b in controls.buttons]
    push = None
    # The push switch is built last, after every plain button, and names are unique.
    if encoder.enabled and encoder.button.enabled and names and names[-1] == encoder.button.name:
        push = names.pop()
    return (names[0] if names else None), push


def terminal_problem() -> str | None:
    """Why there can be no view here, or None when stdin and stdout are a usable terminal."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return (
            "--simulate needs a terminal (stdin and stdout are not a TTY); run it in a "
            "terminal, or use `sleepsound run` and drive it with `sleepsound ctl`"
        )
    try:
        curses.setupterm(fd=sys.stdout.fileno())
    except curses.error:
        return (
            f"--simulate cannot draw on this terminal (TERM={os.environ.get('TERM', '')!r}); "
            "set TERM to your terminal's type, e.g. TERM=xterm-256color"
        )
    return None


def run_simulated(config: Config, config_arg: str | None = None) -> int:
    """``sleepsound run --simulate``: the daemon with mock pins and the terminal view."""
    problem = terminal_problem()
    if problem is not None:
        print(f"sleepsound: {problem}", file=sys.stderr)
        return EXIT_NO_TERMINAL
    from sleepsound.daemon import Daemon  # numpy and the engine only when it runs

    factory = MockFactory(pin_class=MockPWMPin)
    ring = _RingHandler()
    daemon = Daemon(
        config,
        config_arg=config_arg,
        pin_factory=factory,
        on_controls_started=lambda adapter: view.attach(adapter),
    )
    view = TerminalView(daemon, factory, ring)
    daemon.add_listener(view)
    try:
        with _hold_stderr(), _log_into(ring):
            view.start()
            try:
                return daemon.run()
            finally:
                view.close()
    finally:
        factory.close()


__all__ = [
    "ViewState",
    "action_for_key",
    "bar",
    "controls_text",
    "describe_command",
    "describe_event",
    "render",
    "run_simulated",
    "sound_text",
    "terminal_problem",
    "timer_text",
]


def _terminal_present() -> bool:
    """True while stdin and stdout are still a terminal (false once it has hung up)."""
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
