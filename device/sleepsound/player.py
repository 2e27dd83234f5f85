"""The player: a pure state machine. Commands and time in; new state and effects out.

Nothing here reads a clock, opens a file or touches the audio thread. The shell
(the daemon's command loop) owns one :class:`PlayerState` and, for each command
or timer, calls::

    outcome = player.apply(state, command, now_s, ctx)    # a checked Command
    outcome = player.handle(state, raw_dict, now_s, ctx)  # parse + apply in one
    outcome = player.tick(state, now_s, ctx)              # timers, at next_deadline()
    state = outcome.state
    for effect in outcome.effects: ...    # SetScene, PublishStatus, SaveState, Event
    send(outcome.reply)                   # to whoever sent the command (None for tick)

``now_s`` is monotonic seconds (``time.monotonic()``); only
:func:`status_document` takes the wall clock, to print when the timer ends.
A refused command returns the unchanged state, no effects and an error reply.

Start-up and the rest of the wiring::

    config = sleepsound.config.load_config(args.config)
    ctx = PlayerContext.from_config(config, catalogue_ids, specs=id_to_path)
    saved, warning = statefile.load(state_path)         # never raises; log the warning
    state = initial_state(ctx, saved)
    # SetScene(scene)    -> engine.apply(scene) (scene.sound is a spec: ctx.specs or the id)
    # PublishStatus()    -> status_document(state, time.monotonic(), time.time(), ctx)
    # SaveState(saved)   -> debouncer.changed(now); statefile.save(...) when due
    # Event(payload)     -> MQTT /event
    # engine errors      -> playback_failed(state, str(error), now, ctx)
    # output opened, failing, writing again -> output_opened / output_failed / output_back
    # SIGTERM            -> shutdown(state, now, ctx, fade_s)
    # SIGHUP / library   -> reconfigure(state, now, new_ctx)
    # loop timeout       -> min(next_deadline(state), debouncer.deadline()) - now

States and what moves between them (:data:`TRANSITIONS` is the table)::

                   play, toggle
        +---------+ ----------> +---------+  final fade begins  +--------------+
        | stopped |             | playing | ------------------> | sleep_fading |
        +---------+             +---------+ <------------------ +--------------+
           ^    ^                 |     ^    touch, play, toggle     |      |
           |    |     stop,toggle |     | play, toggle          stop |      |
           |    |                 v     |                            |      |
           |    |  fade done   +------------+ <----------------------+      |
           |    +------------- | fading_out |                               |
           |                   +------------+ <- timer ends (no final fade) |
           +---------------------- timer ends ------------------------------+

``sleep_fading`` is the timer's final fade: the engine fades the sound dB-linearly
to silence (:class:`~sleepsound.scene.SleepFade`) while the user's volume stays as
it was. Any command but a status query is a *touch*: during the final fade it means
the sleeper is awake, so the fade is called off (the engine ramps back up) and the
timer starts again from its preset. ``toggle`` counts as a touch there too: the one
button the sleeper finds in the dark says "not yet"; a second press stops.
``stop`` during the final fade keeps the fade running under the fade-out, so the
level never rises on the way down. In the published state document
``sleep_fading`` reads ``fading_out`` (the contract has three states).

The sleep timer's preset (minutes, 0 = off) is armed on every play. With
``[sleep] timer_min`` configured, the preset returns to it whenever playback
stops, so every play starts with that timer unless a command said otherwise; left
unset, the last chosen preset stays (and is saved across restarts).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from sleepsound import favourites
from sleepsound.commands import (
    LAYER_OFF,
    LAYER_ON,
    Command,
    did_you_mean,
    parse_command,
    reply_error,
    reply_ok,
    transaction_of,
)
from sleepsound.errors import CommandError
from sleepsound.library import rotation
from sleepsound.library.beds import MonoBinaural, plan_bed, playback_warning
from sleepsound.library.catalog import SoundEntry
from sleepsound.output_table import DEFAULT_OUTPUT, OutputTable
from sleepsound.program_run import ProgramRun
from sleepsound.saved_state import SavedState
from sleepsound.scene import Layer, Rise, Scene, SleepFade

MIN_FADE_IN_S: Final = 0.5
"""Play from silence never rises faster than this, even with ``"fade": 0``."""
MIN_RAMP_S: Final = 0.05
"""Even an "instant" stop ramps this long: no click."""


class State(StrEnum):
    """Where the player is."""

    STOPPED = "stopped"
    PLAYING = "playing"
    FADING_OUT = "fading_out"
    """Stopping: the scene is silent and the engine is fading; ends at ``stop_at_s``."""
    SLEEP_FADING = "sleep_fading"
    """Playing through the sleep timer's final fade; ends at the timer deadline."""


class Trigger(StrEnum):
    """What can move the player between states."""

    PLAY = "play"
    STOP = "stop"
    TOGGLE = "toggle"
    TOUCH = "touch"
    """Any command other than a status query."""
    FADE_BEGINS = "fade_begins"
    """The sleep timer reached its final fade."""
    TIMER_ENDS = "timer_ends"
    FADE_DONE = "fade_done"
    """A stop's fade-out has finished."""


_S, _T = State, Trigger
TRANSITIONS: Final[Mapping[tuple[State, Trigger], State]] = {
    (_S.STOPPED, _T.PLAY): _S.PLAYING,
    (_S.STOPPED, _T.TOGGLE): _S.PLAYING,
    (_S.PLAYING, _T.STOP): _S.FADING_OUT,
    (_S.PLAYING, _T.TOGGLE): _S.FADING_OUT,
    (_S.PLAYING, _T.FADE_BEGINS): _S.SLEEP_FADING,
    (_S.PLAYING, _T.TIMER_ENDS): _S.FADING_OUT,  # fade_min = 0: the ordinary fade-out
    (_S.SLEEP_FADING, _T.TOUCH): _S.PLAYING,
    (_S.SLEEP_FADING, _T.PLAY): _S.PLAYING,
    (_S.SLEEP_FADING, _T.TOGGLE): _S.PLAYING,
    (_S.SLEEP_FADING, _T.STOP): _S.FADING_OUT,
    (_S.SLEEP_FADING, _T.TIMER_ENDS): _S.STOPPED,
    (_S.FADING_OUT, _T.PLAY): _S.PLAYING,
    (_S.FADING_OUT, _T.TOGGLE): _S.PLAYING,
    (_S.FADING_OUT, _T.FADE_DONE): _S.STOPPED,
}
"""(state, trigger) -> next state. A pair not listed leaves the state as it is."""

PUBLISHED_STATE: Final[Mapping[State, str]] = {
    State.STOPPED: "stopped",
    State.PLAYING: "playing",
    State.FADING_OUT: "fading_out",
    State.SLEEP_FADING: "fading_out",
}
"""The ``state`` value of the status document for each internal state."""


def next_state(state: State, trigger: Trigger) -> State:
    """Look ``(state, trigger)`` up in :data:`TRANSITIONS`."""
    return TRANSITIONS.get((state, trigger), state)


# -- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSetting:
    """The bed under the main sound: which, how loud, and whether it is on."""

    sound: str | None = None
    """The last chosen layer sound (kept while the layer is off)."""
    volume: float = 30.0
    on: bool = False


@dataclass(frozen=True)
class SleepFadeInfo:
    """The final fade the engine was asked to run (kept until the next play)."""

    token: int
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class OutputInfo:
    """Where the sound goes and whether a person can hear it (the document's ``output``).

    An object, not a string, so later keys (a named output's ``kind``, ``connected``)
    join it without breaking the readers of these two.
    """

    name: str = "none"
    """The named output (``default``, ``pillow``), or ``none`` before one opened."""
    audible: bool = False
    """False on the clock output (silence at real-time pace): nobody hears it."""
    kind: str = "none"
    """``alsa``, ``bluetooth`` or ``clock`` (the named output's kind)."""
    device: str | None = None
    """The ALSA PCM name it plays to (``None`` for the clock)."""
    connected: bool = False
    """Whether the device is there (false while a card or a headband is away)."""
    stand_in: bool = False
    """The clock plays instead of a missing card: never heard, whatever it writes."""
    problem: str | None = None
    """Why the output is not heard (no card, a failure being retried), said once per
    outage; not in the document (``last_error`` carries it there)."""


@dataclass(frozen=True)
class PlayerState:
    """Everything the player knows; replaced, never mutated."""

    state: State = State.STOPPED
    sound: str | None = None
    """The selected sound id (what plays, or would play)."""
    volume: float = 30.0
    """The user's volume, 0 to the context's ``max_volume``; the sleep fade never changes it."""
    timer_preset_min: float = 0.0
    """The sleep timer's length in minutes; 0 = off."""
    timer_deadline_s: float | None = None
    """Monotonic time the running timer ends; ``None`` when no timer runs."""
    fade_start_s: float | None = None
    """Monotonic time the final fade begins (≤ the deadline)."""
    sleep_fade: SleepFadeInfo | None = None
    stop_at_s: float | None = None
    """Monotonic time a ``fading_out`` reaches silence."""
    layer: LayerSetting = field(default_factory=LayerSetting)
    last_error: str | None = None
    """The last playback failure, cleared by the next play."""
    output: OutputInfo = field(default_factory=OutputInfo)
    """The output the daemon opened; unlike ``last_error``, no command clears it."""
    fade_token: int = 0
    """The last :class:`~sleepsound.scene.SleepFade` token handed out."""
    scene_serial: int = 0
    """Counts the scenes sent to the engine (for logs)."""
    history: tuple[str, ...] = ()
    """Sounds selected, newest last (``next`` avoids recent repeats; ``previous`` goes
    back through it). Not saved across restarts."""
    output_name: str = DEFAULT_OUTPUT
    """The chosen named output (``volume`` is its volume)."""
    output_volumes: tuple[tuple[str, float], ...] = ()
    """The volumes the other named outputs had when last chosen (saved across restarts)."""
    preset: str | None = None
    """The last preset played (or saved); cleared when another sound is chosen."""
    presets: favourites.Presets = ()
    """The presets saved at runtime (``presets.json``); the config's are in the context."""
    program: ProgramRun | None = None
    """The program that runs now (:mod:`sleepsound.program_player` starts and steps it)."""

    @property
    def audible(self) -> bool:
        """True while the scene has a sound in it (playing or in the final fade)."""
        return self.state in (State.PLAYING, State.SLEEP_FADING)


@dataclass(frozen=True, kw_only=True)
class PlayerContext:
    """What the player needs from outside: the catalogue and the config values.

    The config values have no defaults here: their one owner is the configuration
    (``sleepsound.config``'s sections), and :meth:`from_config` is how they arrive,
    so a default changed there cannot be contradicted here.
    """

    catalogue: tuple[str, ...] = ()
    """Sound ids in order (``next``/``previous`` step through it)."""
    specs: Mapping[str, str] = field(default_factory=dict)
    """Sound id -> source spec for the scene (a file path); ids not listed are their own
    spec (generators). Empty: scenes carry the ids and the shell resolves them."""
    max_volume: float
    """``[audio] max_volume``: the ceiling; the one owner of the published ``max_volume``."""
    start_volume: float
    fade_in_s: float
    fade_out_s: float
    crossfade_s: float
    timer_min: float | None
    fade_min: float
    presets_min: tuple[float, ...]
    default_sound: str | None
    default_layer: str = "pink-noise"
    """The layer ``"on"`` uses before any layer sound was chosen."""
    rotation: tuple[str, ...] = ()
    """The ids ``next``/``previous`` step through (``[sounds] rotation``, resolved by the
    shell); empty: the whole catalogue."""
    rotation_scope: str
    """The configured scope's name, for messages."""
    entries: Mapping[str, SoundEntry] = field(default_factory=dict)
    """Library entries by id (what a sound is: binaural or not); ids without an entry
    are taken as plain sounds."""
    out_channels: int
    mono_binaural: MonoBinaural
    """A binaural bed on a mono output: play its monaural variant, or refuse it."""
    skipped: Mapping[str, str] = field(default_factory=dict)
    """Ids of files the library skipped -> why (the scan's message), for replies."""
    presets: Mapping[str, favourites.Preset] = field(default_factory=dict)
    """The config's ``[presets.NAME]`` tables; runtime saves are in the state."""
    check_spec: Callable[[str], str | None] | None = None
    """Why a built-in sound with parameters (``rain:spells=true``, given as its source
    spec) cannot play, or ``None`` (the shell's opener knows the parameters). Unset:
    any parameters are accepted and the engine reports bad ones."""
    outputs: OutputTable | None = None
    """Every named output; ``max_volume``, ``start_volume``, ``out_channels`` and
    ``range_db`` above are those of ``output_name`` (see :mod:`sleepsound.output_switch`)."""
    output_name: str = DEFAULT_OUTPUT
    """The named output this context is for."""
    range_db: float = 50.0
    """The output's taper: volume 1 is this many dB below volume 100."""
    keep_alive: bool = False
    """The output wants the sub-audible keep-alive tone (a Bluetooth headband that hears
    digital silence switches itself off): every scene carries it."""

    @classmethod
    def from_config(
        cls,
        config: Any,
        catalogue: Sequence[str],
        specs: Mapping[str, str] | None = None,
        *,
        rotation: Sequence[str] = (),
        entries: Mapping[str, SoundEntry] | None = None,
        skipped: Mapping[str, str] | None = None,
        check_spec: Callable[[str], str | None] | None = None,
        output: str | None = None,
    ) -> PlayerContext:
        """Build from a :class:`sleepsound.config.Config` and the library's ids.

        ``rotation`` is the configured scope already resolved to ids (the library
        knows categories and triggers; the player does not). ``output`` names the
        output the context is for (the config's default output when ``None`` or
        unknown); its ceiling, start volume and channels are the context's.
        """
        audio, sleep = config.audio, config.sleep
        table: OutputTable = config.named_outputs()
        chosen = table.get(output) if output is not None else None
        setting = chosen or table.first
        return cls(
            catalogue=tuple(catalogue),
            specs=dict(specs or {}),
            rotation=tuple(rotation),
            rotation_scope=config.sounds.rotation,
            entries=dict(entries or {}),
            skipped=dict(skipped or {}),
            check_spec=check_spec,
            out_channels=setting.channels,
            mono_binaural=config.sounds.mono_binaural,
            max_volume=setting.max_volume,
            start_volume=setting.start_volume,
            outputs=table,
            output_name=setting.name,
            range_db=setting.range_db,
            keep_alive=setting.keep_alive == "tone",
            fade_in_s=audio.fade_in_s,
            fade_out_s=audio.fade_out_s,
            crossfade_s=audio.crossfade_s,
            timer_min=sleep.timer_min,
            fade_min=sleep.fade_min,
            presets_min=tuple(sorted(sleep.presets_min)),
            default_sound=config.sounds.default,
            presets=dict(config.presets),
        )


@dataclass(frozen=True)
class SetScene:
    """Hand the engine this scene."""

    scene: Scene


@dataclass(frozen=True)
class PublishStatus:
    """The status document changed (or was asked for): publish it (MQTT state, sockets)."""


@dataclass(frozen=True)
class SaveState:
    """The saved settings changed: feed the debouncer, then write ``saved``."""

    saved: SavedState


@dataclass(frozen=True)
class Event:
    """Publish an event, e.g. ``{"event_type": "timer_expired"}``."""

    payload: Mapping[str, Any]


Effect = SetScene | PublishStatus | SaveState | Event | favourites.StorePresets
"""``StorePresets``: write the runtime presets to ``presets.json`` (at once, not debounced)."""


@dataclass(frozen=True)
class Outcome:
    """The result of a step: the new state, what the shell must do, the reply (commands)."""

    state: PlayerState
    effects: tuple[Effect, ...] = ()
    reply: dict[str, Any] | None = None


# -- entry points ------------------------------------------------------------------------------


def initial_state(
    ctx: PlayerContext, saved: SavedState | None = None, presets: favourites.Presets = ()
) -> PlayerState:
    """The state at start-up: stopped, with the saved settings where they are still valid
    and the runtime presets read from ``presets.json``."""
    saved = saved or SavedState()
    # The saved volume is the saved output's; another output's comes from its memory.
    remembered = dict(saved.output_volumes)
    if saved.output in (None, ctx.output_name):
        volume = saved.volume if saved.volume is not None else ctx.start_volume
    else:
        volume = remembered.get(ctx.output_name, ctx.start_volume)
        if saved.volume is not None:
            remembered[saved.output] = saved.volume
    remembered.pop(ctx.output_name, None)
    preset = ctx.timer_min if ctx.timer_min is not None else (saved.sleep_timer or 0.0)
    layer = LayerSetting(
        sound=saved.layer_sound,
        volume=saved.layer_volume if saved.layer_volume is not None else LayerSetting.volume,
        on=saved.layer_on,
    )
    return PlayerState(
        sound=_playable(saved.sound, ctx),
        volume=min(volume, ctx.max_volume),
        timer_preset_min=preset,
        layer=_fit_layer(layer, ctx),
        output_name=ctx.output_name,
        output_volumes=tuple(sorted(remembered.items())),
        presets=presets,
    )


def handle(state: PlayerState, raw: object, now_s: float, ctx: PlayerContext) -> Outcome:
    """Parse a raw command (a decoded JSON value) and apply it; never raises CommandError."""
    try:
        command = parse_command(raw)
    except CommandError as error:
        return Outcome(state, (), reply_error(error, transaction=transaction_of(raw)))
    return apply(state, command, now_s, ctx)


def apply(state: PlayerState, command: Command, now_s: float, ctx: PlayerContext) -> Outcome:
    """Apply a checked command. A refusal leaves ``state`` untouched and replies with why."""
    if command.is_query:
        return Outcome(state, (PublishStatus(),), reply_ok(transaction=command.transaction))
    if command.program_edit is not None:
        refused = CommandError("programs are edited through the daemon's schedule", "program")
        return Outcome(state, (), reply_error(refused, transaction=command.transaction))
    if command.action in ("snooze", "dismiss"):
        # sleepsound.program_player takes these while a wake runs; here, none does.
        refused = CommandError(f"nothing to {command.action}: no wake program is running", "action")
        return Outcome(state, (), reply_error(refused, transaction=command.transaction))
    named = None
    try:
        if command.names_preset or command.action in PRESET_ACTIONS:
            new, warnings, transition, events, named = _apply_preset(state, command, now_s, ctx)
        else:
            new, warnings, transition, events = _apply(state, command, now_s, ctx)
            if new.sound != state.sound:
                new = replace(new, preset=None)  # another sound: no longer that preset
    except CommandError as error:
        return Outcome(state, (), reply_error(error, transaction=command.transaction))
    reply = reply_ok(warnings=warnings, transaction=command.transaction)
    if named is not None:
        reply["preset"] = named
    return _outcome(state, new, ctx, transition, events, reply)


PRESET_ACTIONS: Final = frozenset({favourites.NEXT_PRESET, favourites.PRESET_TOGGLE})


def _apply_preset(
    old: PlayerState, cmd: Command, now: float, ctx: PlayerContext
) -> tuple[PlayerState, list[str], float, list[dict[str, Any]], str | None]:
    """Play, save or remove a preset; the rules are :mod:`sleepsound.favourites`'."""
    config, runtime = ctx.presets, old.presets
    if cmd.preset_save is not None or cmd.preset_remove is not None:
        # Still a touch: during the final fade it wakes, as any setter does.
        s, _, transition, events = _apply(old, Command(), now, ctx)
        if cmd.preset_save is not None:
            name = cmd.preset_save
            layer = s.layer
            mix = favourites.snapshot(
                s.sound, s.volume, layer.sound, layer.on, layer.volume, s.timer_preset_min
            )
            presets, warnings = favourites.save_as(name, mix, config, runtime)
            return replace(s, presets=presets, preset=name), warnings, transition, events, name
        name = cmd.preset_remove
        presets, warnings = favourites.remove(name, config, runtime)
        last = s.preset if s.preset != name or name in config else None
        return replace(s, presets=presets, preset=last), warnings, transition, events, name
    has_presets = bool(favourites.names(config, runtime))
    action = favourites.effective_action(cmd.action, old.audible, has_presets)
    if action == "toggle":
        new, warnings, transition, events = _apply(old, replace(cmd, action="toggle"), now, ctx)
        return new, warnings, transition, events, None
    name = (
        cmd.preset if cmd.preset is not None else favourites.following(old.preset, config, runtime)
    )
    play = favourites.find(name, config, runtime).as_command()
    if cmd.fade is not None:
        play["fade"] = cmd.fade
    new, warnings, transition, events = _apply(old, parse_command(play), now, ctx)
    return replace(new, preset=name), warnings, transition, events, name


def tick(state: PlayerState, now_s: float, ctx: PlayerContext) -> Outcome:
    """Advance the timers to ``now_s``: final fade, timer end, end of a fade-out."""
    new, events, transition = _advance(state, now_s, ctx)
    if new == state:
        return Outcome(state)
    return _outcome(state, new, ctx, transition, events, None)


def next_deadline(state: PlayerState) -> float | None:
    """The monotonic time :func:`tick` has something to do next, or ``None``."""
    if state.state is State.FADING_OUT:
        return state.stop_at_s
    if state.state is State.PLAYING and state.timer_deadline_s is not None:
        start = state.fade_start_s if state.fade_start_s is not None else state.timer_deadline_s
        return min(start, state.timer_deadline_s)
    if state.state is State.SLEEP_FADING:
        return state.timer_deadline_s
    return None


def reconfigure(state: PlayerState, now_s: float, ctx: PlayerContext) -> Outcome:
    """Follow a new context (config reload, library change): clamp, re-select, re-scene."""
    new = replace(state, volume=min(state.volume, ctx.max_volume))
    if not new.audible:
        new = replace(new, sound=_playable(new.sound, ctx))
        if ctx.timer_min is not None:
            new = replace(new, timer_preset_min=ctx.timer_min)
    new = replace(new, layer=_fit_layer(new.layer, ctx))
    # The engine's scene was built with the old context: always send the new one; and
    # the document shows the context's max_volume, so publish it too.
    return _outcome(state, new, ctx, ctx.crossfade_s, [], None, force_scene=True)


def playback_failed(state: PlayerState, message: str, now_s: float, ctx: PlayerContext) -> Outcome:
    """The engine could not play (unreadable file, dead device): stop and say why.

    Playback stops rather than limping on half-heard; ``last_error`` keeps the
    reason for the status document until the next play.
    """
    stopped = _stop(state, ctx, now_s, MIN_RAMP_S, keep_fade=True)
    new = replace(stopped, state=State.STOPPED, stop_at_s=None, last_error=message)
    events = [{"event_type": "playback_error", "error": message}]
    return _outcome(state, new, ctx, MIN_RAMP_S, events, None)


def output_opened(
    state: PlayerState, output: OutputInfo, now_s: float, ctx: PlayerContext
) -> Outcome:
    """The shell opened an output (at start-up, or again after a reload).

    ``output.problem`` set means the sound card is missing and the clock plays
    instead: that is the ``last_error``. When the card is back, the error the old
    output left is cleared (any other error stays until the next play).
    """
    new = replace(state, output=output)
    if output.problem is not None:
        new = replace(new, last_error=output.problem)
    elif state.output.problem is not None and state.last_error == state.output.problem:
        new = replace(new, last_error=None)
    return _outcome(state, new, ctx, 0.0, [], None)


def output_failed(state: PlayerState, message: str, now_s: float, ctx: PlayerContext) -> Outcome:
    """The output failed (card unplugged, busy) and the audio thread retries it.

    The scene stays, so the sound comes back with the device; the document says nobody
    hears it and why. Said once per outage, not at every retry.
    """
    if state.output.problem == message:
        return Outcome(state)
    output = replace(state.output, audible=False, connected=False, problem=message)
    new = replace(state, last_error=message, output=output)
    events = [{"event_type": "playback_error", "error": message}]
    return _outcome(state, new, ctx, 0.0, events, None)


def output_back(state: PlayerState, now_s: float, ctx: PlayerContext) -> Outcome:
    """The output writes again: heard again, and a later failure is news again.

    The clock output is never heard, whether chosen or standing in for a missing card.
    """
    info = state.output
    if info.kind == "clock" or info.stand_in or (info.audible and info.problem is None):
        return Outcome(state)
    new = replace(state, output=replace(info, audible=True, connected=True, problem=None))
    return _outcome(state, new, ctx, 0.0, [], None)


def release_output(state: PlayerState, ctx: PlayerContext, transition_s: float) -> Outcome:
    """The output is about to close (a reload reopens it): silence it first, no click.

    The state stays: the next output starts from :func:`scene_for` the same state.
    """
    silent = replace(scene_for(state, ctx, transition_s), sound=None)
    return Outcome(state, (SetScene(silent),))


def shutdown(state: PlayerState, now_s: float, ctx: PlayerContext, fade_s: float) -> Outcome:
    """SIGTERM: fade out over ``fade_s`` (at most), as a ``stop`` command would.

    A slower stop fade already under way cannot be hurried by a scene (an envelope
    runs its course), so the scene's volume goes to 0 instead: the volume slews down
    (40 dB/s) and the sound is gone in time.
    """
    outcome = apply(state, parse_command({"action": "stop", "fade": fade_s}), now_s, ctx)
    slow_stop = (
        state.state is State.FADING_OUT
        and state.stop_at_s is not None
        and state.stop_at_s - now_s > fade_s
    )
    effects = outcome.effects
    if slow_stop:
        scene = replace(scene_for(outcome.state, ctx, fade_s), volume=0.0)
        effects = (*effects, SetScene(scene))
    return Outcome(outcome.state, effects)


def saved_view(state: PlayerState) -> SavedState:
    """The part of ``state`` that is kept across restarts."""
    return SavedState(
        volume=state.volume,
        sound=state.sound,
        sleep_timer=state.timer_preset_min,
        layer_sound=state.layer.sound,
        layer_volume=state.layer.volume,
        layer_on=state.layer.on,
        output=state.output_name,
        output_volumes=state.output_volumes,
    )


def scene_for(state: PlayerState, ctx: PlayerContext, transition_s: float) -> Scene:
    """The scene that makes ``state`` audible (silence unless playing)."""
    sound = None
    layer = None
    if state.audible and state.sound is not None:
        sound = _spec(state.sound, ctx)
        if state.layer.on and state.layer.sound is not None:
            layer_spec = _spec(state.layer.sound, ctx)
            layer = Layer(sound=layer_spec, volume=state.layer.volume)
    fade = state.sleep_fade
    run = state.program
    return Scene(
        sound=sound,
        volume=min(state.volume, ctx.max_volume),
        max_volume=ctx.max_volume,
        transition_s=transition_s,
        layer=layer,
        sleep_fade=SleepFade(fade.token, fade.duration_s) if fade else None,
        range_db=ctx.range_db,
        keep_alive=ctx.keep_alive,
        rise=Rise(run.rise_token, run.rise_s) if run and run.rise_token else None,
    )


def status_document(
    state: PlayerState, now_s: float, wall_now_s: float, ctx: PlayerContext
) -> dict[str, Any]:
    """The status document (MQTT ``/state``, ``ctl status --json``): docs/status.md.

    ``wall_now_s`` is ``time.time()`` at ``now_s``; it only turns the monotonic
    deadline into ``timer_ends_at`` (ISO 8601 UTC, whole seconds). ``max_volume``
    comes from ``ctx``, its one owner. The package's ``data/status.schema.json`` is
    the machine-readable contract, and tests check every published document against it.
    """
    ends_at = None
    if state.audible and state.timer_deadline_s is not None:
        wall = wall_now_s + (state.timer_deadline_s - now_s)
        moment = dt.datetime.fromtimestamp(math.floor(wall + 0.5), dt.UTC)
        ends_at = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = None
    if state.layer.on and state.layer.sound is not None:
        layer = {"sound": state.layer.sound, "volume": _whole(state.layer.volume)}
    return {
        "state": PUBLISHED_STATE[state.state],
        "sound": state.sound,
        "volume": _whole(state.volume),
        "max_volume": _whole(ctx.max_volume),
        "sleep_timer": _minutes(state.timer_preset_min),
        "timer_ends_at": ends_at,
        "layer": layer,
        "last_error": state.last_error,
        "output": {
            "name": state.output.name,
            "kind": state.output.kind,
            "device": state.output.device,
            "audible": state.output.audible,
            "connected": state.output.connected,
        },
        "outputs": list(ctx.outputs.names) if ctx.outputs else [state.output_name],
        "preset": state.preset,
        "presets": favourites.names(ctx.presets, state.presets),
        "program": state.program.describe(now_s, wall_now_s) if state.program else None,
        # The daemon's schedule fills these (sleepsound.daemon.programs).
        "next_program": None,
        "next_wake": None,
        "programs": [],
        "clock_synced": None,
    }


# -- the work ------------------------------------------------------------------------------------


def _apply(
    old: PlayerState, cmd: Command, now: float, ctx: PlayerContext
) -> tuple[PlayerState, list[str], float, list[dict[str, Any]]]:
    warnings: list[str] = []
    events: list[dict[str, Any]] = []
    transition = ctx.crossfade_s
    s = old
    # A touch during the final fade: the sleeper is awake. (A stop keeps the fade going
    # under its fade-out, so that the level never rises on the way down.)
    woken = old.state is State.SLEEP_FADING and cmd.action != "stop"
    rearm_ramp_s = 0.0
    if woken:
        rearm_ramp_s = ctx.fade_in_s
        s = _arm_timer(
            replace(s, state=next_state(s.state, Trigger.TOUCH), sleep_fade=None),
            now,
            ctx,
            rearm_ramp_s,
        )

    if cmd.sound is not None:
        s = replace(s, sound=_known(cmd.sound, "sound", ctx))
    if cmd.volume is not None:
        s = replace(s, volume=_ceiling(cmd.volume, ctx, warnings))
    if cmd.volume_step is not None:
        target = min(max(s.volume + cmd.volume_step, 0.0), 100.0)
        s = replace(s, volume=_ceiling(target, ctx, warnings))
    if cmd.sleep_timer is not None:
        s = replace(s, timer_preset_min=cmd.sleep_timer)
        if s.audible:
            s = _arm_timer(s, now, ctx, rearm_ramp_s)
    if cmd.layer is not None:
        s = replace(s, layer=_layer(s.layer, cmd.layer, ctx, warnings))
    if cmd.layer_volume is not None:
        s = replace(s, layer=replace(s.layer, volume=cmd.layer_volume))

    action = cmd.action
    if action == "toggle":
        # Judged on the state before the command: toggle during the final fade wakes.
        action = "stop" if old.state is State.PLAYING else "play"
    if action == "play":
        if not s.audible:
            s, transition = _play(s, cmd, now, ctx, warnings)
        # Playing already: setters did the work (a new sound crossfades).
    elif action == "stop":
        if s.state is not State.STOPPED:
            fade = cmd.fade if cmd.fade is not None else ctx.fade_out_s
            s = _stop(s, ctx, now, fade, keep_fade=True)
            transition = max(fade, MIN_RAMP_S)
    elif action in ("next", "previous"):
        sound, history = _step(s, action == "next", ctx, warnings)
        s = replace(s, sound=sound, history=history)
    elif action == "timer_cycle":
        s = replace(s, timer_preset_min=_cycle(s.timer_preset_min, ctx.presets_min))
        if s.audible:
            s = _arm_timer(s, now, ctx, rearm_ramp_s)

    if s.sound is not None and (s.sound != old.sound or s.audible):
        s = replace(s, history=rotation.remember(s.history, s.sound))  # no repeat entries
        if s.sound != old.sound or not old.audible:
            _sound_warning(s.sound, ctx, warnings)
    # A timer shorter than its final fade starts fading as soon as it is armed.
    s, timer_events, _ = _advance(s, now, ctx)
    events.extend(timer_events)
    return s, warnings, transition, events


def _play(
    s: PlayerState, cmd: Command, now: float, ctx: PlayerContext, warnings: list[str]
) -> tuple[PlayerState, float]:
    sound = _playable(s.sound, ctx)
    if sound is None:
        raise CommandError(
            "there is no sound to play: add sounds to the library or set [sounds] default",
            "sound",
        )
    if sound != s.sound:
        warnings.append(f"sound {s.sound!r} is no longer in the library; playing {sound!r}")
    ramp = max(cmd.fade if cmd.fade is not None else ctx.fade_in_s, MIN_FADE_IN_S)
    s = replace(
        s,
        state=next_state(s.state, Trigger.PLAY),
        sound=sound,
        stop_at_s=None,
        sleep_fade=None,
        last_error=None,
    )
    return _arm_timer(s, now, ctx, ramp), ramp


def _stop(
    s: PlayerState, ctx: PlayerContext, now: float, fade_s: float, *, keep_fade: bool
) -> PlayerState:
    stop_at = now + max(fade_s, MIN_RAMP_S)
    if s.state is State.FADING_OUT and s.stop_at_s is not None:
        stop_at = min(stop_at, s.stop_at_s)  # a second stop may hurry the fade, never slow it
    return replace(
        s,
        state=next_state(s.state, Trigger.STOP),
        stop_at_s=stop_at,
        timer_deadline_s=None,
        fade_start_s=None,
        sleep_fade=s.sleep_fade if keep_fade else None,
        timer_preset_min=ctx.timer_min if ctx.timer_min is not None else s.timer_preset_min,
    )


def _arm_timer(s: PlayerState, now: float, ctx: PlayerContext, ramp_s: float) -> PlayerState:
    """Start the timer from its preset; the final fade never starts before ``ramp_s``."""
    if s.timer_preset_min <= 0:
        return replace(s, timer_deadline_s=None, fade_start_s=None)
    deadline = now + s.timer_preset_min * 60.0
    fade_s = min(ctx.fade_min, s.timer_preset_min) * 60.0
    # The engine starts a sleep fade from wherever the level is, so wait for a fade-in
    # (or the ramp back up after a wake) to finish first.
    start = min(deadline, max(deadline - fade_s, now + ramp_s))
    return replace(s, timer_deadline_s=deadline, fade_start_s=start)


def _advance(
    s: PlayerState, now: float, ctx: PlayerContext
) -> tuple[PlayerState, list[dict[str, Any]], float]:
    """Timer steps due at ``now``: (new state, events, transition for the scene)."""
    if s.state is State.FADING_OUT and s.stop_at_s is not None and now >= s.stop_at_s:
        return replace(s, state=next_state(s.state, Trigger.FADE_DONE), stop_at_s=None), [], 0.0
    if not s.audible or s.timer_deadline_s is None:
        return s, [], ctx.crossfade_s
    if now >= s.timer_deadline_s:
        expired = [{"event_type": "timer_expired"}]
        if s.state is State.SLEEP_FADING:
            # The engine's fade has reached silence: stop at once, keeping the fade
            # in the scene so nothing rises before the next play.
            ended = _stop(s, ctx, now, MIN_RAMP_S, keep_fade=True)
            ended = replace(ended, state=next_state(s.state, Trigger.TIMER_ENDS), stop_at_s=None)
            return ended, expired, MIN_RAMP_S
        fading = _stop(s, ctx, now, ctx.fade_out_s, keep_fade=False)
        fading = replace(fading, state=next_state(s.state, Trigger.TIMER_ENDS))
        return fading, expired, max(ctx.fade_out_s, MIN_RAMP_S)
    if s.state is State.PLAYING and s.fade_start_s is not None and now >= s.fade_start_s:
        token = s.fade_token + 1
        fade = SleepFadeInfo(token, now, s.timer_deadline_s - now)
        return (
            replace(
                s,
                state=next_state(s.state, Trigger.FADE_BEGINS),
                sleep_fade=fade,
                fade_token=token,
            ),
            [],
            ctx.crossfade_s,
        )
    return s, [], ctx.crossfade_s


def _outcome(
    old: PlayerState,
    new: PlayerState,
    ctx: PlayerContext,
    transition: float,
    events: list[dict[str, Any]],
    reply: dict[str, Any] | None,
    *,
    force_scene: bool = False,
) -> Outcome:
    effects: list[Effect] = []
    if force_scene or scene_for(old, ctx, 0.0) != scene_for(new, ctx, 0.0):
        new = replace(new, scene_serial=new.scene_serial + 1)
        effects.append(SetScene(scene_for(new, ctx, transition)))
    if reply is not None or force_scene or _public(old) != _public(new):
        effects.append(PublishStatus())
    if saved_view(old) != saved_view(new):
        effects.append(SaveState(saved_view(new)))
    if old.presets != new.presets:
        effects.append(favourites.StorePresets(new.presets))
    effects.extend(Event(payload) for payload in events)
    return Outcome(new, tuple(effects), reply)


def _public(s: PlayerState) -> PlayerState:
    """``s`` without the bookkeeping that never shows in the status document."""
    return replace(s, scene_serial=0, fade_token=0, sleep_fade=None, stop_at_s=None, history=())


# -- small rules -----------------------------------------------------------------------------------


def _ceiling(volume: float, ctx: PlayerContext, warnings: list[str]) -> float:
    if volume > ctx.max_volume:
        warnings.append(f"volume clamped to max_volume {_number_text(ctx.max_volume)}")
        return ctx.max_volume
    return volume


def _known(sound: str, field_name: str, ctx: PlayerContext) -> str:
    if sound in ctx.catalogue:
        return sound
    base, colon, _ = sound.partition(":")
    if colon and base in ctx.catalogue:
        problem = _parameter_problem(sound, ctx)
        if problem is not None:
            raise CommandError(f"{field_name} {sound!r} cannot play: {problem}", field_name)
        return sound
    if sound in ctx.skipped:
        raise CommandError(
            f"{field_name} {sound!r} is not playable: the library skipped its file "
            f"({ctx.skipped[sound]}); `sleepsound sounds` lists every skipped file",
            field_name,
        )
    listed = ", ".join(ctx.catalogue[:8]) + (" …" if len(ctx.catalogue) > 8 else "")
    raise CommandError(
        f"unknown {field_name} {sound!r}{did_you_mean(base if colon else sound, ctx.catalogue)}; "
        f"known sounds: {listed or 'none'}",
        field_name,
    )


def _playable(sound: str | None, ctx: PlayerContext) -> str | None:
    """``sound`` if it is in the catalogue, else the default, else the first, else None."""
    for candidate in (sound, ctx.default_sound):
        if candidate is not None and _is_playable(candidate, ctx):
            return candidate
    return ctx.catalogue[0] if ctx.catalogue else None


def _is_playable(sound: str, ctx: PlayerContext) -> bool:
    """True for a catalogue id, and for one with parameters that are valid."""
    if sound in ctx.catalogue:
        return True
    return _in_catalogue(sound, ctx) and _parameter_problem(sound, ctx) is None


def _base_id(sound: str) -> str:
    """The library id of ``sound``: ``rain`` for ``rain:spells=true``."""
    return sound.partition(":")[0]


def _in_catalogue(sound: str, ctx: PlayerContext) -> bool:
    """True for a catalogue id, with or without ``:key=value`` parameters."""
    return sound in ctx.catalogue or (":" in sound and _base_id(sound) in ctx.catalogue)


def _spec(sound: str, ctx: PlayerContext) -> str:
    """The source spec for ``sound``: the library's mapping, parameters kept."""
    if sound in ctx.specs:
        return ctx.specs[sound]
    base, colon, parameters = sound.partition(":")
    if colon and base in ctx.specs:
        return f"{ctx.specs[base]}:{parameters}"
    return sound


def _parameter_problem(sound: str, ctx: PlayerContext) -> str | None:
    """Why ``id:key=value`` cannot play (files take no parameters), or None."""
    base = _base_id(sound)
    entry = ctx.entries.get(base)
    # Without an entry (a file a shell added by path), an id mapped to a spec is a file.
    is_file = entry.kind == "file" if entry is not None else base in ctx.specs
    if is_file:
        return f"{base!r} is a sound file; only built-in sounds take parameters"
    return ctx.check_spec(_spec(sound, ctx)) if ctx.check_spec is not None else None


def _layer(
    current: LayerSetting, value: str, ctx: PlayerContext, warnings: list[str]
) -> LayerSetting:
    if value == LAYER_OFF:
        return replace(current, on=False)
    if value == LAYER_ON:
        chosen = current.sound
        wanted = chosen if chosen is not None and _in_catalogue(chosen, ctx) else ctx.default_layer
    else:
        wanted = value
    sound = _known(wanted, "layer", ctx)
    entry = ctx.entries.get(_base_id(sound))
    if entry is not None:
        # Refuses (CommandError, field "layer") or says how the bed was adapted.
        plan = plan_bed(entry, ctx.out_channels, ctx.mono_binaural)
        if plan.warning:
            warnings.append(plan.warning)
    return replace(current, sound=sound, on=True)


def _fit_layer(layer: LayerSetting, ctx: PlayerContext) -> LayerSetting:
    """``layer`` as ``ctx`` allows it: a sound gone from the catalogue is forgotten, and a
    bed this output refuses (e.g. binaural on a now mono output) is switched off."""
    if layer.sound is None or not _is_playable(layer.sound, ctx):
        return replace(layer, sound=None, on=False)
    entry = ctx.entries.get(_base_id(layer.sound))
    if layer.on and entry is not None:
        try:
            plan_bed(entry, ctx.out_channels, ctx.mono_binaural)
        except CommandError:
            return replace(layer, on=False)
    return layer


def _sound_warning(sound: str, ctx: PlayerContext, warnings: list[str]) -> None:
    entry = ctx.entries.get(_base_id(sound))
    warning = playback_warning(entry, ctx.out_channels) if entry is not None else None
    if warning:
        warnings.append(warning)


def _step(
    s: PlayerState, forward: bool, ctx: PlayerContext, warnings: list[str]
) -> tuple[str, tuple[str, ...]]:
    """The sound ``next``/``previous`` selects, and the history once it does."""
    if not ctx.catalogue:
        raise CommandError("there are no sounds to step through: the library is empty", "action")
    in_scope = [i for i in ctx.rotation if i in ctx.catalogue]
    candidates = in_scope or list(ctx.catalogue)
    if not in_scope and ctx.rotation_scope != "all":
        warnings.append(
            f"no sounds in the rotation {ctx.rotation_scope!r}; stepping through the whole library"
        )
    history = s.history
    if s.sound is not None:
        history = rotation.remember(history, s.sound)
    step = rotation.next_sound if forward else rotation.previous_sound
    found = step(candidates, history)
    assert found is not None  # candidates is never empty here
    return found


def _cycle(preset: float, presets: tuple[float, ...]) -> float:
    """The next preset above ``preset``; after the last one, off (0); from off, the first."""
    for candidate in sorted(presets):
        if candidate > preset:
            return candidate
    return 0.0


def _whole(value: float) -> int:
    return math.floor(value + 0.5)


def _minutes(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _number_text(value: float) -> str:
    return f"{value:g}"


__all__ = [
    "MIN_FADE_IN_S",
    "MIN_RAMP_S",
    "PUBLISHED_STATE",
    "TRANSITIONS",
    "Effect",
    "Event",
    "LayerSetting",
    "Outcome",
    "PlayerContext",
    "PlayerState",
    "PublishStatus",
    "SaveState",
    "SetScene",
    "SleepFadeInfo",
    "State",
    "Trigger",
    "apply",
    "handle",
    "initial_state",
    "next_deadline",
    "next_state",
    "playback_failed",
    "reconfigure",
    "saved_view",
    "scene_for",
    "status_document",
    "tick",
]
