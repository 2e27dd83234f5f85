"""Single, double and long press from a button's raw edges (pure: times are passed in).

Two stages, both fed with the time of every edge and of every tick:

1. :class:`Debouncer` turns a bouncing contact into clean changes. A change counts
   once the contact has stayed quiet for ``bounce_time``: edges inside that window
   restart it, and the level the contact settles on is the one that counts. The
   change is dated at the *first* edge of the burst (when the finger really moved),
   so bounce never shifts the hold and double-press windows. A spike that returns
   to the old level before the window closes (interference on a long wire) is no
   press at all.
2. :class:`GestureRecognizer` runs the press/release changes through a state
   machine (:data:`TRANSITIONS`, drawn below). Timers are evaluated on every edge
   and tick, so a long press fires as soon as the hold time has passed, while the
   finger is still down, and a single press fires as soon as the double-press window
   has closed without a second press.

::

                 press                release before hold_time
        IDLE ─────────────▶ PRESSED ─────────────────────────▶ WAIT_DOUBLE
         ▲ ▲                   │                                 │     │
         │ │                   │ hold_time passes                │     │ press within
         │ │                   ▼ ⇒ LONG                          │     │ double_time
         │ └──── release ──── HELD                               │     ▼ ⇒ DOUBLE
         │                                                       │  SECOND_PRESS
         ├───────────── double_time passes ⇒ SINGLE ─────────────┘     │
         └─────────────────────────────── release ─────────────────────┘

Every (state, signal) pair missing from the table is ignored: a release in IDLE (the
button was already held when the program started), a press in HELD, and so on.
A third quick press is a new gesture (double, then single). ``double_time = 0``
turns double presses off: a single press then fires on release.

Timing figures are seconds measured on the caller's clock (any monotonic origin).
The gpiozero adapter passes the edge times the kernel stamped, so a late callback
does not stretch a window. An edge dated before a moment already processed (it was
delivered after a tick had passed it) is taken as happening at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import Final

from sleepsound.errors import ParameterError

DEFAULT_BOUNCE_TIME: Final = 0.03
"""Seconds a contact must stay quiet before its level counts (tactile switches bounce
for 1-10 ms; cheap encoder push switches for up to about 20 ms)."""

DEFAULT_HOLD_TIME: Final = 1.0
"""Seconds a press must last to be a long press (Phoniebox's default too)."""

DEFAULT_DOUBLE_TIME: Final = 0.35
"""Seconds after a release during which a second press makes a double press."""


class Gesture(StrEnum):
    """What a button did; the values are the ``event_type`` of the gesture events."""

    SINGLE = "single"
    DOUBLE = "double"
    LONG = "long"


class State(Enum):
    """Where the gesture machine stands (see the diagram in the module docstring)."""

    IDLE = "idle"
    PRESSED = "pressed"
    HELD = "held"
    WAIT_DOUBLE = "wait_double"
    SECOND_PRESS = "second_press"


class Signal(Enum):
    """What the machine reacts to: debounced changes and its own timers running out."""

    PRESS = "press"
    RELEASE = "release"
    HOLD_EXPIRED = "hold_expired"
    DOUBLE_EXPIRED = "double_expired"


TRANSITIONS: Final[Mapping[tuple[State, Signal], tuple[State, Gesture | None]]] = {
    (State.IDLE, Signal.PRESS): (State.PRESSED, None),
    (State.PRESSED, Signal.RELEASE): (State.WAIT_DOUBLE, None),
    (State.PRESSED, Signal.HOLD_EXPIRED): (State.HELD, Gesture.LONG),
    (State.HELD, Signal.RELEASE): (State.IDLE, None),
    (State.WAIT_DOUBLE, Signal.PRESS): (State.SECOND_PRESS, Gesture.DOUBLE),
    (State.WAIT_DOUBLE, Signal.DOUBLE_EXPIRED): (State.IDLE, Gesture.SINGLE),
    (State.SECOND_PRESS, Signal.RELEASE): (State.IDLE, None),
}
"""(state, signal) -> (next state, gesture fired on the way or None)."""


def _check_time(name: str, value: float, *, positive: bool = False) -> float:
    """Return ``value`` as a float, or raise :class:`ParameterError` naming ``name``."""
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "more than 0" if positive else "0 or more"
        raise ParameterError(f"{name} must be a number of seconds, {need}; got {value!r}")
    return value


class Debouncer:
    """A contact-bounce filter: a new level counts once the contact has been quiet for
    ``bounce_time`` seconds, dated at the first edge that left the old level."""

    def __init__(self, bounce_time: float = DEFAULT_BOUNCE_TIME, *, level: bool = False) -> None:
        self.bounce_time = _check_time("bounce_time", bounce_time)
        self._level = bool(level)
        self._raw = self._level
        self._last_edge = -math.inf
        self._since: float | None = None

    @property
    def level(self) -> bool:
        """The debounced level."""
        return self._level

    @property
    def pending_since(self) -> float | None:
        """When the burst of edges not yet settled began, or None when the contact is quiet."""
        return self._since

    def edge(self, level: bool, now_s: float) -> None:
        """Record a raw edge: the contact now reads ``level`` (True = closed)."""
        level = bool(level)
        if level == self._raw:
            # A repeated report of the same level is no edge: nothing moved.
            return
        self._raw = level
        self._last_edge = now_s
        if self._since is None:
            self._since = now_s

    def settle(self, now_s: float) -> tuple[bool, float] | None:
        """Close the burst if the contact has been quiet long enough.

        Returns ``(new level, when it changed)`` for a real change, None otherwise
        (still bouncing, nothing pending, or a spike that came back to the old level).
        """
        if self._since is None or now_s - self._last_edge < self.bounce_time:
            return None
        since, self._since = self._since, None
        if self._raw == self._level:
            return None
        self._level = self._raw
        return self._level, since


class GestureRecognizer:
    """Single, double and long presses of one button from its raw edges.

    Call :meth:`edge` for every raw edge and :meth:`tick` regularly (every 10-50 ms):
    both return the gestures recognised by then, in order.
    """

    def __init__(
        self,
        *,
        bounce_time: float = DEFAULT_BOUNCE_TIME,
        hold_time: float = DEFAULT_HOLD_TIME,
        double_time: float = DEFAULT_DOUBLE_TIME,
        pressed: bool = False,
    ) -> None:
        self.hold_time = _check_time("hold_time", hold_time, positive=True)
        self.double_time = _check_time("double_time", double_time)
        self._debouncer = Debouncer(bounce_time, level=pressed)
        self._state = State.IDLE
        self._entered = -math.inf
        self._now = -math.inf

    @property
    def bounce_time(self) -> float:
        """Seconds a contact must stay quiet before its level counts."""
        return self._debouncer.bounce_time

    @property
    def state(self) -> State:
        """The machine's state."""
        return self._state

    @property
    def is_pressed(self) -> bool:
        """True while the (debounced) button is down."""
        return self._debouncer.level

    @property
    def is_held(self) -> bool:
        """True from the moment a long press fired until the button is released."""
        return self._state is State.HELD

    def edge(self, pressed: bool, now_s: float) -> list[Gesture]:
        """Feed a raw edge (``pressed`` is the contact's new level) seen at ``now_s``."""
        gestures = self._run(now_s)
        self._debouncer.edge(pressed, now_s)
        # With bounce_time 0 the edge counts at once.
        gestures += self._run(now_s)
        return gestures

    def tick(self, now_s: float) -> list[Gesture]:
        """Let time pass to ``now_s``: settle bounce, run out hold and double windows."""
        return self._run(now_s)

    def _run(self, now_s: float) -> list[Gesture]:
        gestures: list[Gesture] = []
        change = self._debouncer.settle(now_s)
        if change is not None:
            level, at = change
            gestures += self._advance(at)
            gestures += self._signal(Signal.PRESS if level else Signal.RELEASE, at)
        # A burst still bouncing may turn out to be a press that began at its first
        # edge; timers must not run past that moment until it is settled.
        pending = self._debouncer.pending_since
        gestures += self._advance(now_s if pending is None else min(now_s, pending))
        return gestures

    def _deadline(self) -> tuple[float, Signal] | None:
        if self._state is State.PRESSED:
            return self._entered + self.hold_time, Signal.HOLD_EXPIRED
        if self._state is State.WAIT_DOUBLE:
            return self._entered + self.double_time, Signal.DOUBLE_EXPIRED
        return None

    def _advance(self, until: float) -> list[Gesture]:
        gestures: list[Gesture] = []
        while (timer := self._deadline()) is not None and timer[0] <= until:
            gestures += self._signal(timer[1], timer[0])
        self._now = max(self._now, until)
        return gestures

    def _signal(self, signal: Signal, at: float) -> list[Gesture]:
        at = max(at, self._now)
        self._now = at
        step = TRANSITIONS.get((self._state, signal))
        if step is None:
            return []
        self._state, gesture = step
        self._entered = at
        return [] if gesture is None else [gesture]
