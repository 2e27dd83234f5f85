"""What the bridge has to say, metered into paho's bounded queue.

paho holds at most :data:`~sleepsound.mqtt.connection.MAX_QUEUED` unacknowledged QoS 1
messages and refuses the rest. A burst of commands (each answered with a reply and a
new state) used to overflow it: replies and state documents were dropped and nothing
sent them again, so Home Assistant showed a state the device was not in. The outbox
keeps that from happening:

* **The state is one slot, not a queue.** At most one state document is in paho at a
  time; a newer one replaces the waiting one, and the waiting one goes out as soon as
  the broker has acknowledged the one before. The retained state therefore always ends
  at the latest document, however many changes came in between.
* **Everything else waits in order** until paho has room: availability and discovery
  first (few, never dropped: Home Assistant needs them to show anything at all), then
  the state, then replies and events. Replies and events are bounded
  (:data:`OUTBOX_MAX`); past that they are dropped and counted (the bridge refuses new
  commands as busy long before).
* **Only one thread sends at a time**, and paho's thread never waits for it: the
  acknowledgement callback only asks for another round, so no lock order can deadlock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

OUTBOX_MAX: Final = 4000
"""Replies and events held while paho's queue is full (about 150 bytes each: at most
~0.6 MB); past this one is dropped and counted, and the burst's summary says so."""
DROPPED: Final = -1
"""What ``send`` returns for a message paho refused for good (it is not retried)."""

Send = Callable[[str, bytes, bool], "int | None"]
"""``send(topic, payload, retain)``: paho's message id when paho took the message (it
is then acknowledged later through :meth:`Outbox.published`), ``None`` when it cannot
take it now (not connected, queue full: kept and tried again), or :data:`DROPPED`."""


@dataclass(frozen=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool


class Outbox:
    """The bridge's outgoing messages: a coalescing state slot and a bounded FIFO.

    ``room`` is how many of our messages paho may hold unacknowledged; keep it below
    paho's own limit so a publish is never refused for a full queue.
    """

    def __init__(self, send: Send, *, room: int, limit: int = OUTBOX_MAX) -> None:
        """Nothing is sent until :meth:`pump` (each ``put``/``set_state`` pumps)."""
        self._send = send
        self._room = room
        self._limit = limit
        self._lock = threading.Lock()
        self._pumping = threading.Lock()
        self._pump_wanted = False
        self._urgent: deque[_Message] = deque()
        self._queue: deque[_Message] = deque()
        self._state: _Message | None = None
        self._state_mid: int | None = None
        self._state_sending = False
        self._acked_while_sending: set[int] = set()
        self._in_paho = 0
        self.dropped = 0
        """Replies and events dropped because the outbox was full (for the log)."""

    @property
    def backlog(self) -> int:
        """Messages waiting for room in paho (the state slot counts as one)."""
        with self._lock:
            return len(self._urgent) + len(self._queue) + (self._state is not None)

    @property
    def settled(self) -> bool:
        """Nothing waits and paho holds none of our messages: everything was delivered."""
        with self._lock:
            idle = not self._urgent and not self._queue and self._state is None
            return idle and self._in_paho <= 0

    def set_state(self, topic: str, payload: bytes) -> None:
        """The latest state document: replaces any not yet sent, goes out when it can."""
        with self._lock:
            self._state = _Message(topic, payload, True)
        self.pump()

    def put(self, topic: str, payload: bytes, *, retain: bool, droppable: bool = True) -> bool:
        """Queue a message behind the others; False when dropped (a full outbox).

        Only ``droppable`` messages (replies, events) count against the limit; the
        others (availability, discovery: few, and they must not be lost) go first.
        """
        with self._lock:
            if not droppable:
                self._urgent.append(_Message(topic, payload, retain))
            elif len(self._queue) >= self._limit:
                self.dropped += 1
                return False
            else:
                self._queue.append(_Message(topic, payload, retain))
        self.pump()
        return True

    def published(self, mid: int) -> None:
        """paho's on_publish: the broker has a message; make room and send more."""
        with self._lock:
            self._in_paho -= 1
            if mid == self._state_mid:
                self._state_mid = None
            elif self._state_sending:
                # The ack beat ``send`` returning the mid: remember it for the sender.
                self._acked_while_sending.add(mid)
        self.pump()

    def pump(self) -> None:
        """Hand paho what fits. Never waits: if another thread is sending, it goes on."""
        self._pump_wanted = True
        while self._pump_wanted:
            if not self._pumping.acquire(blocking=False):
                return  # the sender sees _pump_wanted and goes round again
            try:
                self._pump_wanted = False
                while self._send_one():
                    pass
            finally:
                self._pumping.release()

    def _send_one(self) -> bool:
        with self._lock:
            if self._in_paho >= self._room:
                return False
            is_state = False
            line = self._urgent or None
            if line is None:
                is_state = (
                    self._state is not None and self._state_mid is None and not self._state_sending
                )
                line = None if is_state else (self._queue or None)
            if is_state:
                message, self._state = self._state, None
                self._state_sending = True
            elif line is not None:
                message = line.popleft()
            else:
                return False
            self._in_paho += 1
        assert message is not None
        mid = self._send(message.topic, message.payload, message.retain)
        with self._lock:
            if mid is None or mid == DROPPED:
                self._in_paho -= 1
            if is_state:
                self._state_sending = False
                if mid is None and self._state is None:
                    self._state = message  # not sent: still the latest, unless replaced
                elif mid is not None and mid != DROPPED and mid not in self._acked_while_sending:
                    self._state_mid = mid
                self._acked_while_sending.clear()
            elif mid is None:
                line.appendleft(message)
        return mid is not None


__all__ = ["DROPPED", "OUTBOX_MAX", "Outbox", "Send"]
