"""Pure: the bridge's bookkeeping of a burst of commands, and what the log says of it.

A flood must neither grow the daemon's queue without bound nor write a line per
command to an SD card. :class:`BurstGuard` decides whether a command runs or is
refused as busy, and turns a burst into a few log lines: the first refusals, one line
when busy refusals begin, one summary when the backlog has gone out. No I/O and no
clock of its own (time is passed in); the bridge calls it under its lock and logs
the lines it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sleepsound.mqtt.throttle import LogThrottle

BUSY_AT: Final = 400
"""Commands accepted but not answered yet, plus replies waiting for the broker, past
which a new command is refused as busy: a flood cannot grow the daemon's queue or the
outbox without bound, and the device stays quick for the next sensible command."""
BUSY_ERROR: Final = (
    "busy: too many commands at once; this one was not run, nothing changed; "
    "send it again in a moment"
)
"""The error of the reply to a command refused because of a flood (``field`` is
``payload``; documented in docs/mqtt.md)."""


@dataclass
class BurstGuard:
    """Admits commands while the backlog is small; counts the refusals of a burst."""

    busy_at: int = BUSY_AT
    awaiting: int = 0
    """Commands submitted to the daemon whose reply has not come back yet."""
    busy: int = 0
    """Commands refused as busy since the last summary."""
    refusals: LogThrottle = field(default_factory=LogThrottle)
    """The budget for "refused a command" lines (bad input)."""

    def admit(self, backlog: int) -> tuple[bool, str | None]:
        """Whether a command runs now, given the messages still waiting to go out, and a
        line to log (when busy refusals begin). An admitted command is awaited until
        :meth:`answered`."""
        if self.awaiting + backlog < self.busy_at:
            self.awaiting += 1
            return True, None
        self.busy += 1
        if self.busy > 1:
            return False, None
        return False, (
            "mqtt: a burst of commands: refusing new ones as busy until the backlog "
            f"clears (more than {self.busy_at} unanswered)"
        )

    def answered(self) -> None:
        """An admitted command's reply came back from the daemon."""
        self.awaiting -= 1

    def refused(self, now_s: float, where: str, error: str) -> list[str]:
        """Lines to log for a command refused for what it said (within the budget)."""
        allowed, missed = self.refusals.allow(now_s)
        lines = [f"mqtt: {missed} more commands were refused (not logged one by one)"]
        lines = lines if missed else []
        if allowed:
            lines.append(f"mqtt: refused a command on {where}: {error}")
        return lines

    def over(self, settled: bool, dropped: int) -> str | None:
        """The summary once a burst's backlog has gone out (``settled``: nothing waits
        and the broker has everything), or None: no burst, or not over yet. ``dropped``
        is how many replies or events the outbox dropped meanwhile; the caller resets it
        when a summary is returned."""
        if (self.busy == 0 and dropped == 0) or self.awaiting > 0 or not settled:
            return None
        busy, self.busy = self.busy, 0
        return (
            f"mqtt: the burst is over: {busy} commands were refused as busy, {dropped} "
            f"replies or events dropped, {self.refusals.take_suppressed()} more refusals "
            "not logged one by one"
        )


__all__ = ["BUSY_AT", "BUSY_ERROR", "BurstGuard"]
