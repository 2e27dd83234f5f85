"""The player with programs: starts them, steps them and reads controls through them.

Pure, like :mod:`sleepsound.player` (whose companion it is: split out so that the
player stays readable). The command loop calls these instead of the player's own
:func:`apply` / :func:`tick` / :func:`next_deadline`; with no program running they are
the player's. What a program changes::

    start(state, program_start, due_s, now_s, ctx)   # a fire from the scheduler
    apply(state, command, now_s, ctx)                # controls, read through the run
    tick(state, now_s, ctx)                          # rise done, second phase, snooze over

While a wake runs, the button's press (``toggle``) is **snooze** and its hold
(``timer_cycle``) is **dismiss**, as are the explicit ``snooze`` / ``dismiss``
actions; any other control means the sleeper is awake: the run ends, the sound
keeps playing where the rise had brought it (or at the volume the command set).
``stop`` ends a run of either kind, and so does playing another sound during a
bedtime program. Events: ``program_started``, ``snoozed``, ``dismissed``,
``program_skipped`` (each with ``program`` and ``kind``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sleepsound import favourites, program_run
from sleepsound.commands import LAYER_OFF, LAYER_ON, Command, reply_ok
from sleepsound.errors import CommandError
from sleepsound.player import (
    MIN_FADE_IN_S,
    Event,
    Outcome,
    PlayerContext,
    PlayerState,
    SetScene,
    State,
    _advance,
    _apply,
    _known,
    _layer,
    _outcome,
    _playable,
    _stop,
)
from sleepsound.player import apply as player_apply
from sleepsound.player import next_deadline as player_deadline
from sleepsound.player import playback_failed as player_failed
from sleepsound.program_run import Kind, Phase, ProgramRun, ProgramStart, Step

FALLBACK_WAKE_SOUND = "pink-noise"
"""What a wake plays when its own sound is gone and nothing else can (a built-in: always
there)."""

if TYPE_CHECKING:  # the schedule's model, for the add-time check only
    from sleepsound.schedule import Program

SNOOZE_KEYS = ("toggle", "snooze")
"""Actions that snooze a wake (the button's press sends ``toggle``)."""
DISMISS_KEYS = ("timer_cycle", "dismiss")
"""Actions that dismiss a wake (the button's hold sends ``timer_cycle``)."""


def start(
    state: PlayerState, begin: ProgramStart, due_s: float, now_s: float, ctx: PlayerContext
) -> Outcome:
    """Start a program the scheduler fired; ``due_s`` is its monotonic due time.

    A bedtime program plays only from silence (``program_skipped`` otherwise); a
    wake always starts, crossfading from whatever plays. A sound the library does
    not have skips the program with the reason.
    """
    try:
        if begin.kind is Kind.BEDTIME:
            return _start_bedtime(state, begin, now_s, ctx)
        return _start_wake(state, begin, due_s, now_s, ctx)
    except CommandError as error:
        outcome = skipped(state, begin.name, begin.kind, str(error), ctx)
        failed = replace(outcome.state, last_error=f"program {begin.name!r} skipped: {error}")
        return replace(outcome, state=failed)


def program_problem(program: Program, state: PlayerState, ctx: PlayerContext) -> str | None:
    """Why ``program`` could not play what it names (an unknown sound, preset, layer or
    ``then_sound``), or ``None``: checked when a program is added, so that a typo is
    refused at once instead of a wake that stays silent at 7 in the morning."""
    try:
        if program.preset is not None:
            favourites.find(program.preset, ctx.presets, state.presets)
        for field_name in ("sound", "then_sound", "layer"):
            sound = getattr(program, field_name)
            if sound is not None and sound not in (LAYER_ON, LAYER_OFF):
                _known(sound, field_name, ctx)
    except CommandError as error:
        return str(error)
    return None


def skipped(
    state: PlayerState, name: str, kind: Kind | str, reason: str, ctx: PlayerContext
) -> Outcome:
    """A program did not run (``program_skipped`` with why)."""
    payload = program_run.event("program_skipped", name, kind, reason=reason)
    return _outcome(state, state, ctx, ctx.crossfade_s, [payload], None)


def apply(state: PlayerState, command: Command, now_s: float, ctx: PlayerContext) -> Outcome:
    """Apply a command, read through the running program (see the module's docstring)."""
    run = state.program
    if run is None or command.is_query:
        return player_apply(state, command, now_s, ctx)
    plain = not command.has_setters
    if run.is_wake and plain and command.action in SNOOZE_KEYS:
        return _snooze(state, run, command, now_s, ctx)
    if run.is_wake and plain and command.action in DISMISS_KEYS:
        return _dismiss(state, run, command, now_s, ctx)
    before = state  # a bedtime program goes on unless this command ends it (below)
    if run.is_wake:
        # Awake: the run ends. During the rise the sound stays where the rise had
        # brought it (a volume in the command wins).
        before = replace(state, program=None, volume=program_run.heard_volume(run, now_s))
    outcome = player_apply(before, command, now_s, ctx)
    if outcome.reply is None or outcome.reply.get("status") != "ok":
        return Outcome(state, (), outcome.reply)  # refused: the program goes on
    new = outcome.state
    if new.program is not None and (not new.audible or new.sound != state.sound):
        new = replace(new, program=None)  # stopped, or another sound: the program is over
    # The player judged the command against ``before``; the scene and the document
    # are judged against what was heard (the rise), so the engine stops the rise.
    events = [effect.payload for effect in outcome.effects if isinstance(effect, Event)]
    scenes = [effect.scene for effect in outcome.effects if isinstance(effect, SetScene)]
    transition = scenes[-1].transition_s if scenes else ctx.crossfade_s
    return _outcome(state, new, ctx, transition, events, outcome.reply)


def tick(state: PlayerState, now_s: float, ctx: PlayerContext) -> Outcome:
    """Advance the program's steps, then the player's timers, to ``now_s``."""
    run = state.program
    new, transition = state, ctx.crossfade_s
    if run is not None:
        token = state.fade_token + 1
        stepped, step = program_run.advance(run, now_s, token)
        new = replace(state, program=stepped)
        if step is Step.SECOND_PHASE:
            new = replace(new, sound=stepped.sound, volume=stepped.volume)
            transition = max(ctx.crossfade_s, program_run.SECOND_PHASE_CROSSFADE_S)
        elif step is Step.RISE_AGAIN:
            new = _rising(new, stepped, token)
            transition = stepped.rise_s
    timed, events, timer_transition = _advance(new, now_s, ctx)
    if timed != new:
        transition = timer_transition
    # A bedtime program ends with its timer (``timer_expired`` says so).
    new = _settle(timed)
    if new == state:
        return Outcome(state)
    return _outcome(state, new, ctx, transition, events, None)


def next_deadline(state: PlayerState) -> float | None:
    """The monotonic time :func:`tick` has something to do next, or ``None``."""
    times = [player_deadline(state)]
    if state.program is not None:
        times.append(program_run.deadline_s(state.program))
    due = [t for t in times if t is not None]
    return min(due) if due else None


def playback_failed(state: PlayerState, message: str, now_s: float, ctx: PlayerContext) -> Outcome:
    """The engine could not play: the player stops, and a running program ends."""
    outcome = player_failed(state, message, now_s, ctx)
    return replace(outcome, state=_settle(outcome.state))


# -- the steps ---------------------------------------------------------------------------------


def _start_bedtime(
    state: PlayerState, begin: ProgramStart, now_s: float, ctx: PlayerContext
) -> Outcome:
    if state.audible:
        reason = "something is already playing; a bedtime program never interrupts it"
        return skipped(state, begin.name, begin.kind, reason, ctx)
    command = Command(
        action="play",
        sound=begin.sound,
        volume=begin.volume,
        sleep_timer=begin.timer_min,
        layer=begin.layer,
        layer_volume=begin.layer_volume,
        fade=max(begin.fade_min * 60.0, MIN_FADE_IN_S),
    )
    new, _warnings, transition, events = _apply(state, command, now_s, ctx)
    new = replace(new, program=program_run.begin_bedtime(begin))
    events.append(program_run.event("program_started", begin.name, begin.kind))
    return _outcome(state, new, ctx, transition, events, None)


def _start_wake(
    state: PlayerState, begin: ProgramStart, due_s: float, now_s: float, ctx: PlayerContext
) -> Outcome:
    # A wake must ring: a sound that has gone (a deleted file, a removed preset's sound)
    # falls back to one that plays, said in last_error and the event, never silence.
    problems: list[str] = []
    sound = begin.sound or state.sound
    try:
        sound = _known(sound, "sound", ctx) if sound is not None else None
    except CommandError as error:
        sound = _playable(state.sound, ctx) or FALLBACK_WAKE_SOUND
        problems.append(f"{error}; the wake plays {sound} instead")
    if sound is None:
        sound = _playable(None, ctx) or FALLBACK_WAKE_SOUND
    volume = begin.volume if begin.volume is not None else state.volume
    if volume <= 0:
        raise CommandError("the wake volume is 0: give the program a volume above 0", "volume")
    layer = replace(state.layer, on=False)
    if begin.layer is not None:
        try:
            layer = _layer(state.layer, begin.layer, ctx, [])
        except CommandError as error:
            problems.append(f"{error}; the wake plays without its layer")
    if begin.layer_volume is not None:
        layer = replace(layer, volume=begin.layer_volume)
    token = state.fade_token + 1
    run = program_run.begin_wake(
        begin,
        sound=sound,
        volume=volume,
        token=token,
        now_s=now_s,
        due_s=due_s,
        max_volume=ctx.max_volume,
    )
    new = _rising(replace(state, layer=layer), run, token)
    extra = {"warning": "; ".join(problems)} if problems else {}
    if problems:
        new = replace(new, last_error=f"wake {begin.name!r}: " + "; ".join(problems))
    events = [program_run.event("program_started", begin.name, begin.kind, **extra)]
    # Whatever still plays (a sleep sound) fades out under the whole rise.
    return _outcome(state, new, ctx, run.rise_s, events, None)


def _rising(state: PlayerState, run: ProgramRun, token: int) -> PlayerState:
    """``state`` playing ``run``'s sound, rising to its volume (no sleep timer meanwhile)."""
    return replace(
        state,
        state=State.PLAYING,
        sound=run.sound,
        volume=run.volume,
        stop_at_s=None,
        timer_deadline_s=None,
        fade_start_s=None,
        sleep_fade=None,
        last_error=None,
        fade_token=token,
        program=run,
    )


def _snooze(
    state: PlayerState, run: ProgramRun, command: Command, now_s: float, ctx: PlayerContext
) -> Outcome:
    fade_s = program_run.SNOOZE_FADE_S
    if run.phase is Phase.SNOOZED:
        new = replace(state, program=program_run.snooze(run, now_s))  # the snooze starts again
    else:
        # The scene keeps its rise (same token): the engine fades out from where it is.
        new = replace(_stop(state, ctx, now_s, fade_s, keep_fade=False), program=None)
        new = replace(new, program=program_run.snooze(run, now_s))
    snooze_min = run.snooze_s / 60.0
    events = [program_run.event("snoozed", run.name, run.kind, snooze_min=_number(snooze_min))]
    return _outcome(state, new, ctx, fade_s, events, _ok(command))


def _dismiss(
    state: PlayerState, run: ProgramRun, command: Command, now_s: float, ctx: PlayerContext
) -> Outcome:
    fade_s = program_run.DISMISS_FADE_S
    heard = program_run.heard_volume(run, now_s)
    new = replace(state, program=None, volume=heard)
    if new.state is not State.STOPPED:
        new = _stop(new, ctx, now_s, fade_s, keep_fade=False)
    events = [program_run.event("dismissed", run.name, run.kind)]
    return _outcome(state, new, ctx, fade_s, events, _ok(command))


def _settle(state: PlayerState) -> PlayerState:
    """End a run the player's own steps finished (a timer ran out, playback failed)."""
    run = state.program
    if run is None or run.phase is Phase.SNOOZED:
        return state
    if state.state is State.STOPPED or (not run.is_wake and not state.audible):
        return replace(state, program=None)
    return state


def _ok(command: Command) -> dict[str, Any]:
    return reply_ok(transaction=command.transaction)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


__all__ = [
    "DISMISS_KEYS",
    "SNOOZE_KEYS",
    "apply",
    "next_deadline",
    "playback_failed",
    "skipped",
    "start",
    "tick",
]
