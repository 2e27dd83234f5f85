"""The command loop: the one owner of the :class:`~sleepsound.player.PlayerState`.

Everything that changes the state arrives on one queue and is applied here, on one
thread, by pure player functions; their effects are carried out here too::

    submit(command, reply), signals, audio facts, library changes  -->  queue
    program_player.apply / tick, player.output_failed / ...  ->  effects:
        SetScene       -> the audio supervisor (an immutable snapshot to the thread)
        PublishStatus  -> listeners' on_status(document), sd_notify STATUS
        SaveState      -> Debouncer, then statefile.save (atomic)
        StorePresets   -> presets.json at once (favourites_store, atomic)
        Event          -> listeners' on_event(payload)

Programs' edits and the schedule's steps go through :mod:`sleepsound.daemon.program_steps`.

The loop blocks on the queue until the next deadline (player timer, debounced save,
watchdog, health check), so an idle daemon wakes only when something is due.
"""

from __future__ import annotations

import logging
import queue
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sleepsound import favourites, output_switch, player, program_player, statefile, wallclock
from sleepsound.adapter_host import Reply
from sleepsound.commands import Command, parse_command, reply_error, reply_ok, transaction_of
from sleepsound.daemon import program_steps
from sleepsound.daemon.audio import AudioFact, AudioSupervisor, OutputBack, OutputFailed
from sleepsound.daemon.listeners import Listener, Listeners, call
from sleepsound.daemon.programs import DaemonSchedule
from sleepsound.errors import CommandError, OutputError
from sleepsound.player import Outcome, PlayerContext, PlayerState
from sleepsound.sdnotify import Notifier
from sleepsound.status_text import status_line

log = logging.getLogger(__name__)

HEALTH_CHECK_S: Final = 10.0
"""How often the loop looks at the audio thread when there is no watchdog to feed."""
MIN_TICK_S: Final = 0.05
"""Never tick the player faster than this, whatever its deadline says."""


# -- what travels through the queue --------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    """A command from an adapter, and who gets the answer."""

    command: object
    reply: Reply | None


@dataclass(frozen=True)
class Signalled:
    """SIGTERM, SIGINT (stop) or SIGHUP (reload)."""

    signum: int


@dataclass(frozen=True)
class SoundsChanged:
    """Files were added to or removed from the sounds folder."""


@dataclass(frozen=True)
class Emitted:
    """An adapter's event (a button gesture) for every listener."""

    event: Mapping[str, Any]


Message = Submitted | Signalled | SoundsChanged | Emitted | AudioFact


class CommandLoop:
    """The queue, the player's state and context, and the effects they cause."""

    def __init__(
        self,
        *,
        ctx: PlayerContext,
        audio: AudioSupervisor,
        notifier: Notifier,
        saver: Callable[[statefile.SavedState], None],
        save_delay_s: float,
        wall_clock: Callable[[], float],
        health_check_s: float = HEALTH_CHECK_S,
        store_presets: Callable[[favourites.Presets], None] = lambda presets: None,
    ) -> None:
        # SimpleQueue: its put() is reentrant, so a signal handler may call it safely
        # even when the signal lands while the main thread is inside the queue.
        self.queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.listeners = Listeners()
        self.state = PlayerState()
        self.ctx = ctx
        self.document: dict[str, Any] = {}
        self.status_text = ""
        self.debouncer = statefile.Debouncer(save_delay_s)
        self.stopping = False
        self.on_reload: Callable[[float], None] = lambda now: None
        self.on_sounds_changed: Callable[[float], None] = lambda now: None
        self.on_health: Callable[[], None] = lambda: None
        self._audio = audio
        self._notifier = notifier
        self._saver = saver
        self._store_presets = store_presets
        self._wall_clock = wall_clock
        self._health_check_s = health_check_s
        self._pending: statefile.SavedState | None = None
        self._last_tick_s = -1e9
        self._next_watchdog_s: float | None = None
        self._next_health_s = 0.0
        self._clocks: wallclock.Reading | None = None
        self.schedule: DaemonSchedule | None = None
        """The programs (set by the daemon before it runs; none in some tests)."""

    def start_watchdog(self, now: float) -> None:
        """Feed the watchdog from now on, if systemd asked for one."""
        if self._notifier.watchdog_s:
            self._next_watchdog_s = now

    def add_listener(self, listener: Listener) -> None:
        """Tell ``listener`` from now on; once running, it gets the current state at once."""
        self.listeners.add(listener)
        if self.document:
            call(listener.on_status, self.document)
            self.listeners.sounds(self.ctx.catalogue, listener)

    # -- running ---------------------------------------------------------------------------

    def run(self, clock: Callable[[], float]) -> None:
        """Serve until a stop signal; a bug in one step is logged and the loop carries on."""
        while not self.stopping:
            now = clock()
            wake = self._next_wake()
            try:
                message = self.queue.get(timeout=None if wake is None else max(0.0, wake - now))
            except queue.Empty:
                message = None
            now = clock()
            try:
                self._follow_wall_clock(now)
                if message is not None:
                    self._handle(message, now)
                self._do_due(now)
            except Exception:  # a bug in one step must not silence the night
                log.exception("the command loop hit an unexpected error; carrying on")
                if isinstance(message, Submitted):
                    self._answer(message.reply, reply_error("internal error; see the log"))

    def _handle(self, message: Message, now: float) -> None:
        if isinstance(message, Submitted):
            self._command(message, now)
        elif isinstance(message, Signalled):
            if message.signum == signal.SIGHUP:
                self.on_reload(now)
            else:
                log.info("%s received", signal.Signals(message.signum).name)
                self.stopping = True
        elif isinstance(message, Emitted):
            log.debug("event: %s", message.event)
            self.listeners.event(message.event)
        elif isinstance(message, SoundsChanged):
            self.on_sounds_changed(now)
        elif isinstance(message, OutputFailed):
            news = self.follow(
                player.output_failed(self.state, message.message, now, self.ctx), now
            )
            if news.effects:  # once per outage, not at every retry
                self._switch_away(now)
        elif isinstance(message, OutputBack):
            self.follow(player.output_back(self.state, now, self.ctx), now)
        else:
            failed = program_player.playback_failed(self.state, message.message, now, self.ctx)
            self.follow(failed, now)

    def _command(self, message: Submitted, now: float) -> None:
        raw = message.command
        try:
            command = raw if isinstance(raw, Command) else parse_command(raw)
        except CommandError as error:
            refused = reply_error(error, transaction=transaction_of(raw))
            self._answer(message.reply, refused)
            self.listeners.command(raw, refused)
            return
        if command.program_edit is not None:  # the schedule owns the programs
            reply, edited = program_steps.edit(self.schedule, command, self)
            if edited:
                self.publish(now)  # next_program may have changed
        elif output_switch.wants_switch(command):
            reply = self._switch(command, now)
        else:
            outcome = self.follow(program_player.apply(self.state, command, now, self.ctx), now)
            reply = dict(outcome.reply or {})
            if command.is_query and reply.get("status") == "ok":
                reply.update(self.document)
        self._answer(message.reply, reply)
        self.listeners.command(raw, reply)

    def _switch(self, command: Command, now: float) -> dict[str, Any]:
        """Move the sound to another named output, then apply the rest of ``command``.

        The player plans it (:mod:`sleepsound.output_switch`); the audio supervisor opens
        the new output before anything changes, so a refusal leaves the sound where it was.
        """
        transaction = command.transaction
        try:
            plan = output_switch.plan(self.state, command, now, self.ctx)
        except CommandError as error:
            return reply_error(error, transaction=transaction)
        if not plan.same:
            try:
                info = self._audio.switch(
                    plan.target,
                    plan.scene,
                    plan.fade_s,
                    silence=lambda: self.follow(
                        player.release_output(self.state, self.ctx, plan.fade_s), now
                    ),
                )
            except OutputError as error:
                log.warning("cannot switch to output %r: %s", plan.target.name, error)
                where = self.state.output_name
                return reply_error(
                    f"cannot open output {plan.target.name!r} ({error}); "
                    f"the sound stays on {where!r}",
                    "output",
                    transaction=transaction,
                )
            self.ctx = plan.ctx
            self.follow(output_switch.switched(self.state, plan, info), now)
        warnings = list(plan.warnings)
        rest = output_switch.rest_of(command)
        if rest is not None:
            outcome = self.follow(program_player.apply(self.state, rest, now, self.ctx), now)
            if outcome.reply is not None and outcome.reply.get("status") != "ok":
                return outcome.reply
            if outcome.reply and outcome.reply.get("warning"):
                warnings.append(outcome.reply["warning"])
        return reply_ok(warnings=warnings, transaction=transaction)

    def _switch_away(self, now: float) -> None:
        """The output went away: move to the one its ``on_disconnect`` names, if any."""
        target = output_switch.on_disconnect(self.ctx)
        if target is None:
            return  # hold: the audio thread retries, the sound comes back with the device
        log.warning(
            "output %r went away; switching to %r (on_disconnect)", self.ctx.output_name, target
        )
        reply = self._switch(parse_command({"output": target}), now)
        if reply.get("status") != "ok":
            log.error("on_disconnect: %s", reply.get("error"))

    def reconfigure(self, ctx: PlayerContext, now: float) -> None:
        """Follow a new config or catalogue: the new context, re-scene, tell listeners."""
        before, self.ctx = self.ctx.catalogue, ctx
        self.follow(player.reconfigure(self.state, now, ctx), now)
        if ctx.catalogue != before:
            self.listeners.sounds(ctx.catalogue)

    # -- the effect interpreter -------------------------------------------------------------

    def follow(self, outcome: Outcome, now: float) -> Outcome:
        """Take the player's new state and carry out its effects."""
        self.state = outcome.state
        publish = False
        events = []
        for effect in outcome.effects:
            if isinstance(effect, player.SetScene):
                self._audio.set_scene(effect.scene)
            elif isinstance(effect, player.PublishStatus):
                publish = True
            elif isinstance(effect, player.SaveState):
                self._pending = effect.saved
                self.debouncer.changed(now)
            elif isinstance(effect, player.Event):
                events.append(effect.payload)
                if effect.payload.get("event_type") == "timer_expired":
                    self._after_timer()
            elif isinstance(effect, favourites.StorePresets):
                self._store_presets(effect.presets)
        if publish or events:
            self.publish(now)
        for payload in events:
            log.info("event: %s", payload)
            self.listeners.event(payload)
        return outcome

    def _after_timer(self) -> None:
        """The sleep timer ended: a headband with ``off_after_timer`` is disconnected once
        the fade-out is over (radio quiet for the rest of the night)."""
        headband = output_switch.disconnect_after_timer(self.ctx)
        if headband is not None:
            self._audio.disconnect_later(headband, self.ctx.fade_out_s + 1.0)

    def publish(self, now: float) -> None:
        """Send the state document to the listeners (when it changed) and to sd_notify."""
        document = player.status_document(self.state, now, self._wall_clock(), self.ctx)
        if self.schedule is not None:
            document.update(self.schedule.status())
        changed = document != self.document
        self.document = document
        if changed:
            self.listeners.status(document)
        text = status_line(document)
        if text != self.status_text:
            self.status_text = text
            self._notifier.status(text)

    def save_now(self) -> None:
        """Write the pending saved state, if any (on a due debounce, or at shutdown)."""
        pending, self._pending = self._pending, None
        self.debouncer.saved()
        if pending is not None:
            self._saver(pending)

    def _answer(self, reply: Reply | None, document: Mapping[str, Any]) -> None:
        if reply is not None:
            call(reply, document)

    # -- deadlines ---------------------------------------------------------------------------

    def _follow_wall_clock(self, now: float) -> None:
        """Re-publish when the wall clock jumped: ``timer_ends_at`` is in wall-clock time
        and would stay wrong until the next change (the loop wakes at least every health
        check, so a jump is seen within that)."""
        reading = (self._wall_clock(), now)
        before, self._clocks = self._clocks, reading
        if before is not None and wallclock.jumped(before, reading):
            moved_s = wallclock.offset_s(reading) - wallclock.offset_s(before)
            log.info("the wall clock moved by %+.0f s; publishing the state again", moved_s)
            self.publish(now)

    def _do_due(self, now: float) -> None:
        deadline = program_player.next_deadline(self.state)
        if deadline is not None and now >= deadline and now >= self._last_tick_s + MIN_TICK_S:
            self._last_tick_s = now
            self.follow(program_player.tick(self.state, now, self.ctx), now)
        if self.schedule is not None and now >= self.schedule.due_s:
            program_steps.step(self.schedule, self, now)
        if self.debouncer.due(now):
            self.save_now()
        if self._next_watchdog_s is not None and now >= self._next_watchdog_s:
            self._feed_watchdog(now)
        if now >= self._next_health_s:
            self._next_health_s = now + self._health_check_s
            self._audio.check()
            self.on_health()

    def _next_wake(self) -> float | None:
        candidates = [self._next_health_s]
        if self.schedule is not None:
            candidates.append(self.schedule.due_s)
        deadline = program_player.next_deadline(self.state)
        if deadline is not None:
            candidates.append(max(deadline, self._last_tick_s + MIN_TICK_S))
        save = self.debouncer.deadline()
        if save is not None:
            candidates.append(save)
        if self._next_watchdog_s is not None:
            candidates.append(self._next_watchdog_s)
        return min(candidates)

    def _feed_watchdog(self, now: float) -> None:
        assert self._notifier.watchdog_s is not None
        self._next_watchdog_s = now + self._notifier.watchdog_s / 2
        # Only a living audio thread earns a ping: a hung one gets us restarted.
        if self._audio.is_alive:
            self._notifier.watchdog()
        else:
            log.error("not feeding the watchdog: the audio thread is not writing")
