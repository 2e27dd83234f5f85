"""``sleepsound run``: the imperative shell around the player.

Wiring, and nothing that decides::

    adapters (control socket, MQTT, buttons)  --submit(command, reply)-->  queue
    audio thread --on_error-->  queue          signals (TERM, INT, HUP) -->  queue
                                                                              |
    ONE command loop (the main thread) owns the PlayerState:                  v
        player.apply / player.tick  ->  effects:
            SetScene       -> PlaybackThread.set_scene (an immutable snapshot)
            PublishStatus  -> listeners' on_status(document), sd_notify STATUS
            SaveState      -> Debouncer, then statefile.save (atomic)
            Event          -> listeners' on_event(payload)

The loop blocks on the queue until the next deadline (player timer, debounced
save, watchdog), so an idle daemon wakes only when something is due.

Plugging in: ``daemon.add_listener(obj)`` (``on_status(doc)``, ``on_event(event)``
and optionally ``on_sounds(ids)``; called on the loop's thread, so they must not
block: hand off to your own thread), ``daemon.submit(command, reply)`` (thread-safe;
``command`` is a raw JSON object or a parsed :class:`~sleepsound.commands.Command`;
``reply`` is called once, on the loop's thread), ``daemon.emit_event(event)``
(thread-safe) and ``daemon.sound_ids``. The adapters listed in
:data:`ADAPTER_FACTORIES` (MQTT, controls) start right after READY; each entry names
the config it is built from, so a reload restarts exactly the adapters whose config
changed (and drops the listeners they had added).

Signals: SIGTERM and SIGINT fade out (at most :data:`SHUTDOWN_FADE_S`) and exit 0.
SIGHUP reloads the config; a bad new config is logged and the running one kept.
Applied at once: ``[audio]`` (the output is reopened when a device key changed),
``[sleep]``, ``[sounds]`` (the library is reopened when it changed), ``[state]
save_delay_s``, ``[mqtt]`` (MQTT says ``offline`` and reconnects, to the new broker
if it moved, then announces itself again) and ``[controls]``, ``[led]``, ``[sleep]
presets_min`` (the controls are rebuilt on their new pins). ``[control] socket`` and
``[state] file`` take effect at the next restart (the log says so). An adapter whose
config did not change is left alone (no reconnect, no LED flicker, no lost press),
unless it is not running: one that is off or failed to start is tried again.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Protocol

from sleepsound import player, runpaths, statefile, wallclock
from sleepsound.commands import Command, parse_command, reply_error, transaction_of
from sleepsound.config import AudioConfig, Config, load_config, salvage_ceiling
from sleepsound.control_socket import ControlServer, status_line
from sleepsound.daemon_sounds import DaemonSounds
from sleepsound.engine import SourceFactory
from sleepsound.errors import (
    CommandError,
    ConfigError,
    DeviceMissingError,
    OutputError,
    SleepsoundError,
    SoundError,
)
from sleepsound.library.opener import spec_checker
from sleepsound.outputs.base import Output
from sleepsound.outputs.clock import ClockOutput
from sleepsound.playback import PlaybackThread
from sleepsound.player import Outcome, OutputInfo, PlayerContext, PlayerState
from sleepsound.scene import Scene
from sleepsound.sdnotify import Notifier

log = logging.getLogger(__name__)

SHUTDOWN_FADE_S: Final = 1.5
"""SIGTERM fades out this fast at most: systemd waits, but a shutdown should not."""
READY_WAIT_S: Final = 3.0
"""How long start-up waits for the audio thread's first block before READY anyway."""
HEALTH_CHECK_S: Final = 10.0
"""How often the loop looks at the audio thread when there is no watchdog to feed."""
MIN_TICK_S: Final = 0.05
"""Never tick the player faster than this, whatever its deadline says."""

Reply = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class AdapterFactory:
    """One adapter the daemon starts after READY, and the config it is built from."""

    name: str
    """What the log calls it (``"MQTT"``)."""
    target: str
    """``"module:function"``; ``function(daemon)`` starts the adapter from ``daemon.config``
    and returns an object with ``stop()``, or ``None`` when it is switched off."""
    depends_on: tuple[str, ...]
    """Everything of the config the factory reads: whole sections (``"mqtt"``) or single
    keys (``"sleep.presets_min"``). A reload that changes one of them stops the adapter
    and starts it again from the factory; any other change leaves it running."""

    def changed(self, old: Config, new: Config) -> list[str]:
        """The parts of ``depends_on`` that differ between two configs, as the log names
        them (``["[mqtt]"]``, ``["[sleep] presets_min"]``); empty when none does."""
        return [
            _config_name(part)
            for part in self.depends_on
            if _config_part(old, part) != _config_part(new, part)
        ]


ADAPTER_FACTORIES: list[AdapterFactory] = [
    AdapterFactory("MQTT", "sleepsound.mqtt:start_adapter", ("mqtt",)),
    AdapterFactory(
        "controls",
        "sleepsound.controls.adapter:start_adapter",
        ("controls", "led", "sleep.presets_min"),
    ),
]
"""The adapters, started in this order after READY and stopped in reverse. A failing
factory is logged and skipped, at start-up and on reload: the player still plays."""


def _config_part(config: Config, part: str) -> object:
    section, _, key = part.partition(".")
    value = config.section(section)
    return getattr(value, key) if key else value


def _config_name(part: str) -> str:
    section, _, key = part.partition(".")
    return f"[{section}] {key}" if key else f"[{section}]"


class Listener(Protocol):
    """Something told about every status change and event (MQTT, the LED)."""

    def on_status(self, document: Mapping[str, Any]) -> None:
        """The state document changed (CONTRACTS.md); called on the loop's thread."""

    def on_event(self, event: Mapping[str, Any]) -> None:
        """An event happened (``timer_expired``, ``playback_error``, button gestures)."""


class Adapter(Protocol):
    """A started adapter the daemon stops on shutdown (or on a reload that changed its
    config, before the factory starts a new one)."""

    def stop(self) -> None:
        """Stop and release everything; called once."""


@dataclass
class _Running:
    """What one factory started: the adapter (``None`` when off or failed) and the
    listeners it added, which go when it stops."""

    factory: AdapterFactory
    adapter: Adapter | None
    listeners: list[Listener] = field(default_factory=list)


# -- what travels through the queue --------------------------------------------------------


@dataclass(frozen=True)
class _Submitted:
    command: object
    reply: Reply | None


@dataclass(frozen=True)
class _AudioFailed:
    error: SleepsoundError


@dataclass(frozen=True)
class _Signal:
    signum: int


@dataclass(frozen=True)
class _SoundsChanged:
    pass


@dataclass(frozen=True)
class _Emitted:
    event: Mapping[str, Any]


_Message = _Submitted | _AudioFailed | _Signal | _SoundsChanged | _Emitted


class Daemon:
    """The running player: one command loop, the audio thread, the adapters."""

    def __init__(
        self,
        config: Config,
        *,
        config_arg: str | None = None,
        environ: Mapping[str, str] | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._config_arg = config_arg
        self._environ = dict(os.environ if environ is None else environ)
        self._notifier = notifier or Notifier(self._environ)
        self._clock = clock
        self._wall_clock = wall_clock
        # SimpleQueue: its put() is reentrant, so a signal handler may call it safely
        # even when the signal lands while the main thread is inside the queue.
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._listeners: list[Listener] = []
        self._running: list[_Running] = []
        self.state_path = runpaths.state_file_path(config.state.file, self._environ)
        self.socket_path = runpaths.daemon_socket_path(config.control.socket, self._environ)
        self._sounds: DaemonSounds | None = None
        self._ctx = PlayerContext()
        self._state = PlayerState()
        self._document: dict[str, Any] = {}
        self._status_text = ""
        self._debouncer = statefile.Debouncer(config.state.save_delay_s)
        self._pending: statefile.SavedState | None = None
        self._audio: PlaybackThread | None = None
        self._fallback_error: str | None = None
        self._output_error: str | None = None
        self._control: ControlServer | None = None
        self._stopping = False
        self._last_tick_s = -1e9
        self._next_watchdog_s: float | None = None
        self._next_health_s = 0.0
        self._audio_stalled = False
        self._clocks: wallclock.Reading | None = None

    # -- the public, thread-safe part -------------------------------------------------------

    @property
    def config(self) -> Config:
        """The configuration in force (replaced on a successful reload)."""
        return self._config

    def add_listener(self, listener: Listener) -> None:
        """Tell ``listener`` about status changes and events from now on.

        A listener added while the daemon runs gets the current document at once
        (and the sound ids, if it has ``on_sounds``), so it never starts out wrong.
        """
        self._listeners.append(listener)
        if self._document:
            self._call(listener.on_status, self._document)
            self._tell_sounds(listener)

    def submit(self, command: object, reply: Reply | None = None) -> None:
        """Queue a command (raw JSON object or parsed Command); ``reply`` gets the answer.

        Thread-safe and never blocking. A query (``{"action": "status"}``) is answered
        with the state document's keys merged into ``{"status": "ok"}``.
        """
        self._queue.put(_Submitted(command, reply))

    def status(self) -> dict[str, Any]:
        """The latest state document (a copy; safe from any thread)."""
        return dict(self._document)

    @property
    def sound_ids(self) -> tuple[str, ...]:
        """The playable sound ids in catalogue order (the MQTT sound select's options)."""
        return self._ctx.catalogue

    @property
    def sound_titles(self) -> dict[str, str]:
        """Id -> title of every library sound ("Late rain on the roof"), for people."""
        return {sound_id: entry.meta.title for sound_id, entry in self._ctx.entries.items()}

    def request_stop(self) -> None:
        """Fade out and leave the loop, as SIGTERM does (thread-safe)."""
        self._queue.put(_Signal(signal.SIGTERM))

    def emit_event(self, event: Mapping[str, Any]) -> None:
        """Tell every listener's ``on_event`` about an adapter's event (a button gesture).

        Thread-safe and never blocking: the event goes through the queue, so listeners
        are called on the loop's thread, in order with the commands around it.
        """
        self._queue.put(_Emitted(dict(event)))

    # -- running ------------------------------------------------------------------------------

    def run(self) -> int:
        """Start everything, serve until SIGTERM/SIGINT, fade out; return the exit status.

        Call from the main thread (signal handlers live there).
        """
        self._install_signals()
        try:
            self._start()
        except SleepsoundError as error:
            log.error("%s", error)
            self._notifier.stopping(f"failed: {error}")
            self._teardown()
            return 1
        self._loop()
        self._shutdown()
        return 0

    def _install_signals(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self._queue.put(_Signal(signum))

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, handler)

    def _start(self) -> None:
        config = self._config
        log.info("config: %s", config.path or "built-in defaults")
        for warning in config.warnings:
            log.warning("config: %s", warning)
        saved, warning = statefile.load(self.state_path)
        if warning:
            log.warning("%s", warning)
        self._ensure_state_dir()
        self._sounds = self._open_sounds(config)
        self._ctx = self._context()
        self._state = player.initial_state(self._ctx, saved)
        self._log_forgotten(saved)
        # Bind before any thread starts: binding sets the process umask for a moment.
        self._control = ControlServer(self.socket_path, self.submit)
        self._control.bind()
        self._open_audio()
        self._control.start()
        log.info("control socket: %s", self.socket_path)
        self._sounds.start()
        self._wait_for_sound()
        now = self._clock()
        self._publish(now)
        if self._notifier.watchdog_s:
            self._next_watchdog_s = now
        self._notifier.ready(self._status_text)
        log.info("ready: %s", self._status_text)
        # MQTT and the controls come up right after READY: neither is needed for the
        # sound or the socket, and their imports would only delay start-up. Each gets
        # the current state as it subscribes (add_listener).
        self._start_adapters()

    def _loop(self) -> None:
        while not self._stopping:
            now = self._clock()
            wake = self._next_wake(now)
            try:
                message = self._queue.get(timeout=None if wake is None else max(0.0, wake - now))
            except queue.Empty:
                message = None
            now = self._clock()
            try:
                self._follow_wall_clock(now)
                if message is not None:
                    self._handle(message, now)
                self._do_due(now)
            except Exception:  # a bug in one step must not silence the night
                log.exception("the command loop hit an unexpected error; carrying on")
                if isinstance(message, _Submitted):
                    self._answer(message.reply, reply_error("internal error; see the log"))

    def _shutdown(self) -> None:
        self._notifier.stopping("fading out")
        log.info("stopping: fading out")
        self._stop_adapters()
        now = self._clock()
        fade_s = min(self._ctx.fade_out_s, SHUTDOWN_FADE_S)
        before = self._state
        self._follow(
            player.apply(before, parse_command({"action": "stop", "fade": fade_s}), now, self._ctx),
            now,
        )
        if self._audio is not None:
            slow_stop = (
                before.state is player.State.FADING_OUT
                and before.stop_at_s is not None
                and before.stop_at_s - now > fade_s
            )
            if slow_stop:
                # A long stop fade is already under way and a scene cannot hurry an
                # envelope; the volume slews down (40 dB/s) and ends it in time.
                scene = player.scene_for(self._state, self._ctx, fade_s)
                self._audio.set_scene(replace(scene, volume=0.0))
            self._audio.finish(fade_s + 1.0)
        if self._debouncer.pending:
            self._save()
        self._teardown()
        log.info("stopped")

    def _teardown(self) -> None:
        self._stop_adapters()
        if self._sounds is not None:
            self._sounds.stop()
        if self._audio is not None:
            self._audio.stop()
        self._notifier.close()

    # -- one step ------------------------------------------------------------------------------

    def _handle(self, message: _Message, now: float) -> None:
        if isinstance(message, _Submitted):
            self._command(message, now)
        elif isinstance(message, _AudioFailed):
            self._audio_failed(message.error, now)
        elif isinstance(message, _Signal):
            if message.signum == signal.SIGHUP:
                self._reload(now)
            else:
                log.info("%s received", signal.Signals(message.signum).name)
                self._stopping = True
        elif isinstance(message, _Emitted):
            log.debug("event: %s", message.event)
            self._broadcast(message.event)
        elif isinstance(message, _SoundsChanged):
            self._set_context(now)

    def _command(self, message: _Submitted, now: float) -> None:
        raw = message.command
        try:
            command = raw if isinstance(raw, Command) else parse_command(raw)
        except CommandError as error:
            refused = reply_error(error, transaction=transaction_of(raw))
            self._answer(message.reply, refused)
            self._tell_command(raw, refused)
            return
        outcome = self._follow(player.apply(self._state, command, now, self._ctx), now)
        reply = dict(outcome.reply or {})
        if command.is_query and reply.get("status") == "ok":
            reply.update(self._document)
        self._answer(message.reply, reply)
        self._tell_command(raw, reply)

    def _tell_command(self, raw: object, reply: Mapping[str, Any]) -> None:
        """The optional ``on_command(raw, reply)`` hook: the simulator's log shows each
        command from ctl, MQTT or the controls (the journal does not: a knob is chatty)."""
        for listener in list(self._listeners):
            on_command = getattr(listener, "on_command", None)
            if on_command is not None:
                try:
                    on_command(raw, reply)
                except Exception:
                    log.exception("a listener failed")

    def _follow(self, outcome: Outcome, now: float) -> Outcome:
        """Take the new state and carry out the effects."""
        self._state = outcome.state
        publish = False
        events = []
        for effect in outcome.effects:
            if isinstance(effect, player.SetScene):
                if self._audio is not None:
                    self._audio.set_scene(effect.scene)
            elif isinstance(effect, player.PublishStatus):
                publish = True
            elif isinstance(effect, player.SaveState):
                self._pending = effect.saved
                self._debouncer.changed(now)
            elif isinstance(effect, player.Event):
                events.append(effect.payload)
        if publish or events:
            self._publish(now)
        for payload in events:
            log.info("event: %s", payload)
            self._broadcast(payload)
        return outcome

    def _follow_wall_clock(self, now: float) -> None:
        """Re-publish when the wall clock jumped: ``timer_ends_at`` is in wall-clock time
        and would stay wrong until the next change (the loop wakes at least every
        :data:`HEALTH_CHECK_S`, so a jump is seen within that)."""
        reading = (self._wall_clock(), now)
        before, self._clocks = self._clocks, reading
        if before is not None and wallclock.jumped(before, reading):
            moved_s = wallclock.offset_s(reading) - wallclock.offset_s(before)
            log.info("the wall clock moved by %+.0f s; publishing the state again", moved_s)
            self._publish(now)

    def _do_due(self, now: float) -> None:
        deadline = player.next_deadline(self._state)
        if deadline is not None and now >= deadline and now >= self._last_tick_s + MIN_TICK_S:
            self._last_tick_s = now
            self._follow(player.tick(self._state, now, self._ctx), now)
        if self._debouncer.due(now):
            self._save()
        if self._next_watchdog_s is not None and now >= self._next_watchdog_s:
            self._feed_watchdog(now)
        if now >= self._next_health_s:
            self._next_health_s = now + HEALTH_CHECK_S
            self._check_audio()
            self._check_control()

    def _next_wake(self, now: float) -> float | None:
        candidates = [self._next_health_s]
        deadline = player.next_deadline(self._state)
        if deadline is not None:
            candidates.append(max(deadline, self._last_tick_s + MIN_TICK_S))
        save = self._debouncer.deadline()
        if save is not None:
            candidates.append(save)
        if self._next_watchdog_s is not None:
            candidates.append(self._next_watchdog_s)
        return min(candidates)

    # -- effects ---------------------------------------------------------------------------------

    def _publish(self, now: float) -> None:
        document = player.status_document(self._state, now, self._wall_clock())
        changed = document != self._document
        self._document = document
        if changed:
            for listener in list(self._listeners):
                self._call(listener.on_status, document)
        text = status_line(document)
        if text != self._status_text:
            self._status_text = text
            self._notifier.status(text)

    def _broadcast(self, event: Mapping[str, Any]) -> None:
        for listener in list(self._listeners):
            self._call(listener.on_event, event)

    def _tell_sounds(self, listener: Listener) -> None:
        """The optional ``on_sounds(ids)`` hook (MQTT's sound select)."""
        on_sounds = getattr(listener, "on_sounds", None)
        if on_sounds is not None:
            self._call(on_sounds, self._ctx.catalogue)

    def _save(self) -> None:
        pending, self._pending = self._pending, None
        self._debouncer.saved()
        if pending is None:
            return
        try:
            statefile.save(self.state_path, pending)
        except OSError as error:
            log.error(
                "cannot save the state to %s: %s; set [state] file to a writable place",
                self.state_path,
                error.strerror or error,
            )
        else:
            log.debug("state saved to %s", self.state_path)

    def _answer(self, reply: Reply | None, document: Mapping[str, Any]) -> None:
        if reply is not None:
            self._call(reply, document)

    @staticmethod
    def _call(function: Callable[[Mapping[str, Any]], None], argument: Mapping[str, Any]) -> None:
        try:
            function(argument)
        except Exception:  # one broken listener must not take the others down
            log.exception("a listener failed")

    # -- audio -----------------------------------------------------------------------------------

    def _first_output(self, audio: AudioConfig) -> Output | OutputError:
        """Open the configured output; a missing sound card falls back to the clock.

        Returns the error instead when the device is there but unusable right now
        (busy, odd format): the audio thread then keeps retrying it.
        """
        self._fallback_error = None
        if audio.output == "clock":
            return _clock_output(audio, audio.record)
        try:
            return _alsa_output(audio)
        except DeviceMissingError as error:
            self._fallback_error = (
                f"no sound card: {error}. Playing to the clock output (silence) instead; "
                "connect the card, then reload (systemctl reload sleepsound)"
            )
            # Expected on a laptop or a Pi not wired yet, and the daemon carries on:
            # a warning (the state document's output says it is silent), not an error.
            log.warning("%s", self._fallback_error)
            return _clock_output(audio, None)
        except OutputError as error:
            log.error("%s", error)
            return error

    def _start_audio(self, first: Output | OutputError, scene: Scene) -> PlaybackThread:
        audio = self._config.audio
        pending = [first]
        fallback = self._fallback_error is not None

        def open_output() -> Output:
            if pending:
                output = pending.pop()
                if isinstance(output, OutputError):
                    raise output
                return output
            if fallback or audio.output == "clock":
                return _clock_output(audio, None if fallback else audio.record)
            return _alsa_output(audio)

        assert self._sounds is not None
        thread = PlaybackThread(
            open_output,
            # Through self: a reload that reopens the library reaches the running thread.
            lambda spec, rate, channels: self._sound_opener()(spec, rate, channels),
            scene,
            on_error=lambda error: self._queue.put(_AudioFailed(error)),
        )
        thread.start()
        return thread

    def _sound_opener(self) -> SourceFactory:
        assert self._sounds is not None
        return self._sounds.open_source

    def _wait_for_sound(self) -> None:
        assert self._audio is not None
        self._audio.wait_first_block(READY_WAIT_S)
        log.info("output: %s", self._audio.output_description or "none yet (retrying)")

    def _audio_failed(self, error: SleepsoundError, now: float) -> None:
        message = str(error)
        if isinstance(error, SoundError):
            self._follow(player.playback_failed(self._state, message, now, self._ctx), now)
            return
        # Output trouble: the audio thread retries by itself and the scene stays, so the
        # sound comes back with the device. Say so once, not at every retry.
        if message == self._output_error:
            return
        self._output_error = message
        output = replace(self._state.output, audible=False)  # nothing reaches the card now
        self._state = replace(self._state, last_error=message, output=output)
        self._publish(now)
        self._broadcast({"event_type": "playback_error", "error": message})

    def _check_audio(self) -> None:
        if self._audio is None:
            return
        alive = self._audio.is_alive
        if not alive and not self._audio_stalled:
            log.error("the audio thread has stalled: no block written for several seconds")
        elif alive and self._audio_stalled:
            log.info("the audio thread is writing again")
        self._audio_stalled = not alive
        if alive and self._audio.blocks_written:
            self._output_error = None  # a later failure is news again
            self._heard_again()

    def _check_control(self) -> None:
        # The watchdog follows the audio thread only, so a dead socket thread would
        # otherwise go unnoticed until a restart: `sleepsound ctl` would hang all night.
        if self._control is not None and self._control.revive():
            log.warning("control socket: its thread had stopped; serving again")

    def _feed_watchdog(self, now: float) -> None:
        assert self._notifier.watchdog_s is not None
        self._next_watchdog_s = now + self._notifier.watchdog_s / 2
        # Only a living audio thread earns a ping: a hung one gets us restarted.
        if self._audio is not None and self._audio.is_alive:
            self._notifier.watchdog()
        else:
            log.error("not feeding the watchdog: the audio thread is not writing")

    def _restart_audio(self, now: float) -> None:
        """Reopen the output (after a reload changed it, or to retry a missing card)."""
        old = self._audio
        if old is not None:
            old.set_scene(replace(player.scene_for(self._state, self._ctx, 0.5), sound=None))
            old.finish(2.0)
        self._open_audio()
        self._publish(now)

    def _open_audio(self) -> None:
        """Open the output, say whether the card is missing, and start the audio thread."""
        missing_before = self._fallback_error
        output = self._first_output(self._config.audio)
        self._state = replace(self._state, output=self._output_info(output))
        if self._fallback_error:
            self._state = replace(self._state, last_error=self._fallback_error)
        elif missing_before and self._state.last_error == missing_before:
            self._state = replace(self._state, last_error=None)  # the card is back
        self._audio = self._start_audio(
            output, player.scene_for(self._state, self._ctx, self._ctx.fade_in_s)
        )

    def _output_info(self, output: Output | OutputError) -> OutputInfo:
        """What the state document says about the output just opened (or not)."""
        audio = self._config.audio
        if self._fallback_error is not None or audio.output == "clock":
            return OutputInfo(name="clock", audible=False)
        # A device that is there but failed to open is retried: heard once it writes.
        return OutputInfo(name=audio.device, audible=not isinstance(output, OutputError))

    def _heard_again(self) -> None:
        """The sound card writes again after a failure: say it is heard (next publish)."""
        info = self._state.output
        if info.audible or info.name == "clock" or self._fallback_error is not None:
            return
        self._state = replace(self._state, output=replace(info, audible=True))
        self._publish(self._clock())

    # -- config and sounds --------------------------------------------------------------------

    def _reload(self, now: float) -> None:
        self._notifier.reloading()
        try:
            config = load_config(self._config_arg, self._environ)
        except ConfigError as error:
            where = f" in {error.path}" if error.path else ""
            log.error(
                "reload: the new config has %d problem(s)%s; keeping the running config:",
                len(error.problems),
                where,
            )
            for problem in error.problems:
                log.error("  %s", problem)
            self._lower_ceiling_anyway(salvage_ceiling(error.path), now)
            self._notifier.ready(self._status_text)
            return
        for warning in config.warnings:
            log.warning("reload: %s", warning)
        old, self._config = self._config, config
        if config.sounds != old.sounds:
            assert self._sounds is not None
            self._sounds.stop()
            self._sounds = self._open_sounds(config)
            self._sounds.start()
        elif self._sounds is not None:
            self._sounds.refresh()
        self._set_context(now)
        self._debouncer.delay_s = config.state.save_delay_s
        if _device_settings(config.audio) != _device_settings(old.audio) or self._fallback_error:
            self._restart_audio(now)
        for name, before, after in (
            ("[control] socket", old.control.socket, config.control.socket),
            ("[state] file", old.state.file, config.state.file),
        ):
            if before != after:
                log.warning("%s changed: takes effect at the next restart", name)
        self._restart_changed_adapters(old, config)
        self._notifier.ready(self._status_text)
        log.info("config reloaded from %s", config.path or "built-in defaults")

    def _lower_ceiling_anyway(self, ceiling: float | None, now: float) -> None:
        """Apply a lower ``max_volume`` from a refused config: safety never fails closed."""
        if ceiling is None or ceiling >= self._config.audio.max_volume:
            return
        log.warning("reload: applying its lower max_volume %g all the same", ceiling)
        audio = replace(self._config.audio, max_volume=ceiling)
        self._config = replace(self._config, audio=audio)
        self._set_context(now)

    def _open_sounds(self, config: Config) -> DaemonSounds:
        settings = config.sounds
        cache = runpaths.loudness_cache_path(settings.loudness_cache, self._environ)
        sounds = DaemonSounds(
            settings.dir,
            loudness_cache=Path(cache),
            on_change=lambda: self._queue.put(_SoundsChanged()),
            rescan_s=settings.rescan_s,
            loudness_lufs=settings.loudness_lufs,
            non_repeating=settings.non_repeating,
            segment_s=settings.segment_s,
            out_channels=config.audio.channels,
        )
        sounds.refresh()
        return sounds

    def _set_context(self, now: float) -> None:
        """Follow a new config or catalogue: rebuild the context, re-scene, tell listeners."""
        before = self._ctx.catalogue
        self._ctx = self._context()
        self._follow(player.reconfigure(self._state, now, self._ctx), now)
        if self._ctx.catalogue != before:
            for listener in list(self._listeners):
                self._tell_sounds(listener)

    def _context(self) -> PlayerContext:
        assert self._sounds is not None
        return PlayerContext.from_config(
            self._config,
            self._sounds.ids(),
            self._sounds.specs(),
            rotation=self._sounds.rotation(self._config.sounds.rotation),
            entries=self._sounds.entries(),
            skipped=self._sounds.skipped(),
            check_spec=spec_checker(self._sounds.library.presets.presets),
        )

    def _log_forgotten(self, saved: statefile.SavedState) -> None:
        """Say so when a saved sound is not in the library (renamed, removed, skipped)."""
        for what, wanted, got in (
            ("sound", saved.sound, self._state.sound),
            ("layer sound", saved.layer_sound, self._state.layer.sound),
        ):
            if wanted is not None and wanted != got:
                log.warning(
                    "saved %s %r is not in the library (renamed, removed or skipped: see "
                    "`sleepsound sounds`); using %s",
                    what,
                    wanted,
                    repr(got) if got else "none",
                )

    def _ensure_state_dir(self) -> None:
        directory = os.path.dirname(self.state_path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            log.warning(
                "cannot create %s for the saved state: %s; settings will not survive a restart",
                directory,
                error.strerror,
            )

    # -- adapters --------------------------------------------------------------------------------

    def _start_adapters(self) -> None:
        for factory in ADAPTER_FACTORIES:
            self._running.append(self._start_adapter(factory))

    def _restart_changed_adapters(self, old: Config, new: Config) -> None:
        """Restart each adapter whose config changed, and try again the ones not running
        (off, or failed: the user may have fixed what stopped them); leave the rest be."""
        for index, running in enumerate(self._running):
            factory = running.factory
            changed = factory.changed(old, new)
            if changed:
                why = " and ".join(changed)
                log.info("reload: %s changed; restarting %s", why, factory.name)
                failure = f"reload: could not restart {factory.name} after {why} changed"
                # Stopped first: the new one may need the same pins or the same client id.
                self._stop_adapter(running)
            elif running.adapter is None:
                failure = f"reload: could not start {factory.name}"
            else:
                continue
            self._running[index] = self._start_adapter(factory, failure)

    def _start_adapter(self, factory: AdapterFactory, failure: str | None = None) -> _Running:
        """Run one factory, noting the listeners it adds; a failure is logged, never raised."""
        # Listeners are only appended while a factory runs: its own are the new tail.
        before = len(self._listeners)
        try:
            module_name, _, function_name = factory.target.partition(":")
            start = getattr(importlib.import_module(module_name), function_name)
            adapter: Adapter | None = start(self)
        except Exception:
            log.exception(
                "%s; carrying on without it (fix it, then reload)",
                failure or f"could not start {factory.name}",
            )
            self._remove_listeners(self._listeners[before:])
            return _Running(factory, None)
        return _Running(factory, adapter, self._listeners[before:])

    def _stop_adapter(self, running: _Running) -> None:
        self._remove_listeners(running.listeners)
        if running.adapter is None:
            return
        try:
            running.adapter.stop()
        except Exception:
            log.exception("stopping %s failed", running.factory.name)

    def _remove_listeners(self, listeners: list[Listener]) -> None:
        gone = {id(listener) for listener in listeners}
        self._listeners = [item for item in self._listeners if id(item) not in gone]

    def _stop_adapters(self) -> None:
        running, self._running = self._running, []
        for one in reversed(running):
            self._stop_adapter(one)
        control, self._control = self._control, None
        if control is not None:
            try:
                control.stop()
            except Exception:
                log.exception("stopping the control socket failed")
        self._listeners.clear()


# -- output adapters ------------------------------------------------------------------------------


def _alsa_output(audio: AudioConfig) -> Output:
    from sleepsound.outputs.alsa import AlsaOutput  # alsaaudio only when ALSA is used

    return AlsaOutput(
        device=audio.device,
        rate=audio.rate,
        channels=audio.channels,
        sample_format=audio.format,
        period_frames=audio.period_frames,
        periods=audio.periods,
    )


def _clock_output(audio: AudioConfig, record: str | None) -> Output:
    return ClockOutput(
        rate=audio.rate,
        channels=audio.channels,
        period_frames=audio.period_frames,
        periods=audio.periods,
        record=record,
    )


def _device_settings(audio: AudioConfig) -> tuple[object, ...]:
    """The [audio] keys that need the output reopened when they change."""
    return (
        audio.output,
        audio.device,
        audio.record,
        audio.rate,
        audio.channels,
        audio.period_frames,
        audio.periods,
        audio.format,
    )


def run(config: Config, config_arg: str | None = None) -> int:
    """Run the daemon in the foreground until SIGTERM; return the exit status."""
    return Daemon(config, config_arg=config_arg).run()


__all__ = [
    "ADAPTER_FACTORIES",
    "SHUTDOWN_FADE_S",
    "Adapter",
    "AdapterFactory",
    "Daemon",
    "Listener",
    "run",
]
