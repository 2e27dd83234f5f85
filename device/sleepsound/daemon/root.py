"""``sleepsound run``: the composition root, which builds the parts and orders them.

The parts, each in its own module::

    loop.py       the command loop: owns the PlayerState; queue, effects, deadlines
    programs.py   the schedule: programs in force, stepped on the wall clock, stored
                  (with what already fired, so a restart does not fire it again)
    program_steps.py  the loop's program glue: edits answered, decisions to the player
    audio.py      the audio supervisor: the output, the audio thread, what happens
                  when the sound card vanishes (facts to the queue)
    reload.py     what happens on SIGHUP: a pure plan from the old and new config
    output_reload.py  the named outputs on a reload: lower ceilings from a refused
                  file, an output gone from the config
    adapters.py   the adapter host: MQTT and the controls, each from a factory that
                  gets an AdapterHost (submit, emit_event, add_listener, config, ids)
    listeners.py  who hears each state document and event
    sounds.py     the daemon's view of the sound library
    saving.py     the saved state file

Start order: config and saved state, the library, the player's first state, the
control socket (bound before any thread starts: binding sets the umask for a
moment), the output and the audio thread, the socket's thread, the library's
watcher, READY, then the adapters. Stop order is the reverse: adapters and the
socket first (no new commands), the fade-out, the last save, the library, the audio.

Plugging in: ``daemon.add_listener(obj)`` (``on_status(doc)``, ``on_event(event)``
and optionally ``on_sounds(ids)``; called on the loop's thread, so they must not
block), ``daemon.submit(command, reply)`` (thread-safe; ``command`` is a raw JSON
object or a parsed :class:`~sleepsound.commands.Command`; ``reply`` is called once,
on the loop's thread), ``daemon.emit_event(event)`` (thread-safe) and
``daemon.sound_ids``.

Signals: SIGTERM and SIGINT fade out (at most :data:`SHUTDOWN_FADE_S`) and exit 0.
SIGHUP reloads the config (:mod:`sleepsound.daemon.reload` says what re-applies).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from sleepsound import player, program_store, runpaths
from sleepsound.adapter_host import AdapterHost, Reply
from sleepsound.config import Config, load_config
from sleepsound.control_socket.server import ControlServer
from sleepsound.daemon import output_reload
from sleepsound.daemon.adapters import Adapters
from sleepsound.daemon.audio import AudioSupervisor
from sleepsound.daemon.listeners import Listener
from sleepsound.daemon.loop import (
    HEALTH_CHECK_S,
    CommandLoop,
    Emitted,
    Signalled,
    SoundsChanged,
    Submitted,
)
from sleepsound.daemon.programs import DaemonSchedule, preset_settings
from sleepsound.daemon.reload import plan_reload
from sleepsound.daemon.saving import PresetFile, StateFile, log_forgotten
from sleepsound.daemon.sounds import DaemonSounds
from sleepsound.errors import ConfigError, SleepsoundError
from sleepsound.player import PlayerContext
from sleepsound.sdnotify import Notifier

log = logging.getLogger("sleepsound.daemon")

SHUTDOWN_FADE_S: Final = 1.5
"""SIGTERM fades out this fast at most: systemd waits, but a shutdown should not."""
RELEASE_S: Final = 0.5
"""How fast the old output goes quiet before a reload reopens it."""


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
        pin_factory: Any = None,
        on_controls_started: Callable[[Any], None] | None = None,
        health_check_s: float = HEALTH_CHECK_S,
    ) -> None:
        """``pin_factory`` and ``on_controls_started`` reach the controls adapter (the
        simulator and tests use gpiozero's mock pins); ``health_check_s`` is how often
        the audio thread and the socket are looked at."""
        self._config = config
        self._config_arg = config_arg
        self._environ = dict(os.environ if environ is None else environ)
        self._notifier = notifier or Notifier(self._environ)
        self._clock = clock
        self._pin_factory = pin_factory
        self._on_controls_started = on_controls_started
        self.state_path = runpaths.state_file_path(config.state.file, self._environ)
        self._state_file = StateFile(self.state_path)
        self._preset_file = PresetFile(self.state_path)
        self.socket_path = runpaths.daemon_socket_path(config.socket.path, self._environ)
        self._sounds: DaemonSounds | None = None
        self._control: ControlServer | None = None
        self._audio = AudioSupervisor(lambda fact: self._loop.queue.put(fact), self._opener)
        self._loop = CommandLoop(
            # The config's values until the library is open (start-up sets the real context).
            ctx=PlayerContext.from_config(config, ()),
            audio=self._audio,
            notifier=self._notifier,
            saver=self._state_file.save,
            save_delay_s=config.state.save_delay_s,
            wall_clock=wall_clock,
            health_check_s=health_check_s,
            store_presets=self._preset_file.save,
        )
        self._loop.schedule = DaemonSchedule(
            config,
            program_store.path_beside(self.state_path),
            wall_clock=wall_clock,
            environ=self._environ,
        )
        self._loop.schedule.resolve_preset = lambda name: preset_settings(
            name, self._loop.ctx.presets, self._loop.state.presets
        )
        self._loop.on_reload = self._reload
        self._loop.on_sounds_changed = self._set_context
        self._loop.on_health = self._check_control
        self._adapters = Adapters(self._loop.listeners, self._host)

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
        self._loop.add_listener(listener)

    def submit(self, command: object, reply: Reply | None = None) -> None:
        """Queue a command (raw JSON object or parsed Command); ``reply`` gets the answer.

        Thread-safe and never blocking. A query (``{"action": "status"}``) is answered
        with the state document's keys merged into ``{"status": "ok"}``.
        """
        self._loop.queue.put(Submitted(command, reply))

    def status(self) -> dict[str, Any]:
        """The latest state document (a copy; safe from any thread)."""
        return dict(self._loop.document)

    @property
    def sound_ids(self) -> tuple[str, ...]:
        """The playable sound ids in catalogue order (the MQTT sound select's options)."""
        return self._loop.ctx.catalogue

    @property
    def sound_titles(self) -> dict[str, str]:
        """Id -> title of every library sound ("Late rain on the roof"), for people."""
        return {sound_id: entry.meta.title for sound_id, entry in self._loop.ctx.entries.items()}

    def request_stop(self) -> None:
        """Fade out and leave the loop, as SIGTERM does (thread-safe)."""
        self._loop.queue.put(Signalled(signal.SIGTERM))

    def emit_event(self, event: Mapping[str, Any]) -> None:
        """Tell every listener's ``on_event`` about an adapter's event (a button gesture).

        Thread-safe and never blocking: the event goes through the queue, so listeners
        are called on the loop's thread, in order with the commands around it.
        """
        self._loop.queue.put(Emitted(dict(event)))

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
        self._loop.run(self._clock)
        self._shutdown()
        return 0

    def _install_signals(self) -> None:
        def handler(signum: int, frame: object) -> None:
            self._loop.queue.put(Signalled(signum))

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, handler)

    def _start(self) -> None:
        config, loop = self._config, self._loop
        log.info("config: %s", config.path or "built-in defaults")
        for warning in config.warnings:
            log.warning("config: %s", warning)
        saved = self._state_file.load()
        self._sounds = self._open_sounds(config)
        named, vanished = config.named_outputs().starting(saved.output)
        if vanished:
            log.warning("%s", vanished)
        loop.ctx = self._context(named.name)
        loop.state = player.initial_state(loop.ctx, saved, self._preset_file.load())
        log_forgotten(saved, loop.state)
        # Bind before any thread starts: binding sets the process umask for a moment.
        self._control = ControlServer(self.socket_path, self.submit)
        self._control.bind()
        self._open_output(self._clock())
        self._control.start()
        log.info("control socket: %s", self.socket_path)
        self._sounds.start()
        self._audio.wait_first_block()
        now = self._clock()
        loop.publish(now)
        loop.start_watchdog(now)
        self._notifier.ready(loop.status_text)
        log.info("ready: %s", loop.status_text)
        # MQTT and the controls come up right after READY: neither is needed for the
        # sound or the socket, and their imports would only delay start-up. Each gets
        # the current state as it subscribes (add_listener).
        self._adapters.start_all()

    def _shutdown(self) -> None:
        self._notifier.stopping("fading out")
        log.info("stopping: fading out")
        self._stop_adapters()
        now = self._clock()
        fade_s = min(self._loop.ctx.fade_out_s, SHUTDOWN_FADE_S)
        self._loop.follow(player.shutdown(self._loop.state, now, self._loop.ctx, fade_s), now)
        self._audio.finish(fade_s + 1.0)
        if self._loop.debouncer.pending:
            self._loop.save_now()
        self._teardown()
        log.info("stopped")

    def _teardown(self) -> None:
        self._stop_adapters()
        if self._sounds is not None:
            self._sounds.stop()
        self._audio.stop()
        self._notifier.close()

    def _host(self) -> AdapterHost:
        """What an adapter factory gets: the narrow host, with the config in force."""
        return AdapterHost(
            config=self._config,
            submit=self.submit,
            emit_event=self.emit_event,
            add_listener=self.add_listener,
            sound_ids=self.sound_ids,
            sound_entries=lambda: self._loop.ctx.entries,
            links=self._links,
            pin_factory=self._pin_factory,
            on_controls_started=self._on_controls_started,
        )

    def _links(self) -> dict[str, bool]:
        """Adapter name -> whether it is connected, for adapters that say (``connected``)."""
        found = {}
        for running in list(self._adapters.running):
            connected = getattr(running.adapter, "connected", None)
            if isinstance(connected, bool):
                found[running.factory.name] = connected
        return found

    def _stop_adapters(self) -> None:
        self._adapters.stop_all()
        control, self._control = self._control, None
        if control is not None:
            try:
                control.stop()
            except Exception:
                log.exception("stopping the control socket failed")
        self._loop.listeners.clear()

    def _check_control(self) -> None:
        # The watchdog follows the audio thread only, so a dead socket thread would
        # otherwise go unnoticed until a restart: `sleepsound ctl` would hang all night.
        if self._control is not None and self._control.revive():
            log.warning("control socket: its thread had stopped; serving again")

    # -- the output ---------------------------------------------------------------------------

    def _open_output(self, now: float) -> None:
        """Open the output, tell the player what opened, start the audio thread."""
        loop = self._loop
        named = self._config.named_outputs().find(loop.ctx.output_name)
        info = self._audio.open(self._config.audio, named)
        loop.follow(player.output_opened(loop.state, info, now, loop.ctx), now)
        self._audio.start(player.scene_for(loop.state, loop.ctx, loop.ctx.fade_in_s))

    def _reopen_output(self, now: float) -> None:
        """Silence the old output, let it go, open the new one (reload, a card back)."""
        loop = self._loop
        loop.follow(player.release_output(loop.state, loop.ctx, RELEASE_S), now)
        self._audio.finish(2.0)
        self._open_output(now)

    # -- config and sounds --------------------------------------------------------------------

    def _reload(self, now: float) -> None:
        """SIGHUP: what re-applies is planned in :mod:`sleepsound.daemon.reload`."""
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
            lowered = output_reload.salvaged(self._config, error.path)
            if lowered is not None:
                self._config = lowered
                self._set_context(now)
            self._notifier.ready(self._loop.status_text)
            return
        for warning in config.warnings:
            log.warning("reload: %s", warning)
        old, self._config = self._config, config
        plan = plan_reload(
            old,
            config,
            output_missing=self._audio.missing is not None,
            adapters=[(r.factory, r.adapter is not None) for r in self._adapters.running],
        )
        assert self._sounds is not None
        if plan.reopen_sounds:
            self._sounds.stop()
            self._sounds = self._open_sounds(config)
            self._sounds.start()
        else:
            self._sounds.refresh()
        self._set_context(now)
        if self._loop.schedule is not None:
            self._loop.schedule.reconfigure(config, self._environ)
        self._loop.debouncer.delay_s = config.state.save_delay_s
        if output_reload.follow_outputs(self._loop, old, config, now) or plan.reopen_output:
            self._reopen_output(now)
        for name in plan.next_restart:
            log.warning("%s changed: takes effect at the next restart", name)
        for step in plan.adapters:
            if step.log_line:
                log.info("%s", step.log_line)
            self._adapters.restart(step.index, step.failure, stop_first=bool(step.changed))
        self._notifier.ready(self._loop.status_text)
        log.info("config reloaded from %s", config.path or "built-in defaults")

    def _opener(self) -> Any:
        assert self._sounds is not None
        return self._sounds.open_source

    def _open_sounds(self, config: Config) -> DaemonSounds:
        cache = runpaths.loudness_cache_path(config.sounds.loudness_cache, self._environ)
        sounds = DaemonSounds.from_config(
            config, Path(cache), on_change=lambda: self._loop.queue.put(SoundsChanged())
        )
        sounds.refresh()
        return sounds

    def _set_context(self, now: float) -> None:
        """Follow a new config or catalogue: the player gets a new context."""
        self._loop.reconfigure(self._context(), now)

    def _context(self, output: str | None = None) -> PlayerContext:
        """The player's context for ``output`` (unset: the output playing now)."""
        assert self._sounds is not None
        return PlayerContext.from_config(
            self._config,
            self._sounds.ids(),
            self._sounds.specs(),
            rotation=self._sounds.rotation(self._config.sounds.rotation),
            entries=self._sounds.entries(),
            skipped=self._sounds.skipped(),
            check_spec=self._sounds.spec_check(),
            output=output if output is not None else self._loop.state.output_name,
        )


def run(config: Config, config_arg: str | None = None) -> int:
    """Run the daemon in the foreground until SIGTERM; return the exit status."""
    return Daemon(config, config_arg=config_arg).run()
