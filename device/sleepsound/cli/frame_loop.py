"""The daemon's player on a frame clock: what ``render`` and ``play`` run.

The same pure :mod:`sleepsound.player` the daemon's command loop follows, fed the
same commands (``{"action": "play", "sound": …, "fade": …}``, ``stop``), with one
difference: time is the frames rendered so far divided by the rate. Writing a
file, that makes a render as fast as the CPU allows and every fade land on an
exact frame; playing through ALSA, whose ``write`` blocks until the card has
room, the frames written are the card's own clock.

Each :class:`~sleepsound.player.SetScene` goes to the engine (after ``prepare``,
where ``render`` measures the scene's sounds so they are levelled from the first
frame); engine errors become :func:`~sleepsound.player.playback_failed`, as in
the daemon. Status, saving and events have no listener here and are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from sleepsound import player
from sleepsound.engine import Engine
from sleepsound.errors import CommandError
from sleepsound.outputs.base import Output, render_frames
from sleepsound.player import Outcome, PlayerContext, SetScene, State
from sleepsound.scene import Scene

INTERRUPT_FADE_S: Final = 2.0
"""Ctrl-C / SIGTERM never takes longer than this to reach silence."""


class FrameLoop:
    """Follows the player with an engine; time is the frames it rendered / rate.

    Commands are :meth:`submit`-ted (a refused one raises before anything is
    written anywhere); :meth:`perform` then renders into an output.

    ``compensate_latency`` (files) trims the limiter's look-ahead from the start and
    renders it at the end, so frame 0 of the output is frame 0 of the timeline.
    """

    def __init__(
        self,
        ctx: PlayerContext,
        engine: Engine,
        *,
        prepare: Callable[[Scene], None] = lambda scene: None,
        compensate_latency: bool = False,
    ) -> None:
        """Start stopped, at frame 0, with nothing saved (``render`` reads no state file)."""
        self.ctx = ctx
        self.engine = engine
        self.state = player.initial_state(ctx)
        self.frames = 0
        """Frames of the timeline rendered so far: the clock."""
        self.delivered = 0
        """Frames handed to the output."""
        self.warnings: list[str] = []
        """What the player's replies warned about (e.g. a volume clamped to the ceiling)."""
        self.failures: list[str] = []
        """Why playback stopped on its own (a file that failed while playing)."""
        self._prepare = prepare
        self._compensate = compensate_latency
        self._skip = engine.latency_frames if compensate_latency else 0

    @property
    def now_s(self) -> float:
        """The clock in seconds."""
        return self.frames / self.engine.rate

    def submit(self, raw: Mapping[str, object]) -> None:
        """Apply one command now; raise :class:`CommandError` with the player's reason."""
        outcome = player.handle(self.state, dict(raw), self.now_s, self.ctx)
        reply = outcome.reply or {}
        if reply.get("status") == "error":
            raise CommandError(str(reply.get("error")), reply.get("field"))
        if reply.get("warning"):
            self.warnings.append(str(reply["warning"]))
        self._follow(outcome)

    def perform(
        self,
        output: Output,
        seconds: float | None,
        fade_out_s: float,
        interrupted: Callable[[], bool] = lambda: False,
        *,
        exact_length: bool = False,
    ) -> int:
        """Play what was submitted into ``output`` until ``seconds``, fading out; return
        the frames delivered.

        With ``seconds`` the fade-out (``stop`` with ``fade_out_s``) ends on its last
        frame. Without it, playing lasts until ``interrupted()`` turns true (an
        interruption fades out within :data:`INTERRUPT_FADE_S`). Either way it ends
        once the player has stopped (also on its own: see :attr:`failures`), unless
        ``exact_length`` (a file): then silence follows up to ``seconds``, as on the device.
        """
        rate = self.engine.rate
        total = round(seconds * rate) if seconds is not None else None
        fade_frames = round(max(fade_out_s, player.MIN_RAMP_S) * rate)
        stop_frame = max(total - fade_frames, 0) if total is not None else None
        stopping = False
        while True:
            at_end = stop_frame is not None and self.frames >= stop_frame
            if not stopping and (at_end or interrupted()):
                fade = fade_out_s if at_end else min(fade_out_s, INTERRUPT_FADE_S)
                self.submit({"action": "stop", "fade": fade})
                stopping = True
            self._tick()
            stopped = self.state.state is State.STOPPED and not (exact_length and total is not None)
            if stopped or (total is not None and self.frames >= total):
                break
            ahead = [total, None if stopping else stop_frame, self._deadline_frame()]
            due = min((f for f in ahead if f is not None and f > self.frames), default=None)
            block = render_frames(output)
            self._render(output, block if due is None else min(block, due - self.frames))
        self._flush(output)
        return self.delivered

    def _follow(self, outcome: Outcome) -> None:
        self.state = outcome.state
        for effect in outcome.effects:
            if isinstance(effect, SetScene):
                self._prepare(effect.scene)
                self.engine.apply(effect.scene)
        self._check_engine()

    def _check_engine(self) -> None:
        """Engine errors (a sound that failed to open or to read) stop playback, as live."""
        while self.engine.errors:
            message = str(self.engine.errors.popleft())
            self.failures.append(message)
            self._follow(player.playback_failed(self.state, message, self.now_s, self.ctx))

    def _deadline_frame(self) -> int | None:
        deadline = player.next_deadline(self.state)
        return None if deadline is None else round(deadline * self.engine.rate)

    def _tick(self) -> None:
        deadline = player.next_deadline(self.state)
        if deadline is not None and self.frames >= round(deadline * self.engine.rate):
            # The deadline's own frame is its moment, even where float seconds fall short.
            self._follow(player.tick(self.state, max(self.now_s, deadline), self.ctx))

    def _render(self, output: Output, frames: int) -> None:
        block = self.engine.render(frames)
        self.frames += frames
        if self._skip:
            drop = min(self._skip, len(block))
            block = block[drop:]
            self._skip -= drop
        if len(block):
            output.write(block)
            self.delivered += len(block)
        self._check_engine()

    def _flush(self, output: Output) -> None:
        """Render the limiter's look-ahead, so the output ends where the timeline does."""
        left = self.engine.latency_frames if self._compensate else 0
        while left > 0:
            block = self.engine.render(min(left, render_frames(output)))
            output.write(block)
            self.delivered += len(block)
            left -= len(block)
