"""Programs as the player runs them: bedtime, the wake's rise, snooze, dismiss, override.

Everything on a fake monotonic clock: the pure functions of sleepsound.program_player
and sleepsound.program_run, as the command loop calls them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sleepsound import config, player, program_player, program_run
from sleepsound.commands import parse_command
from sleepsound.player import PlayerContext, PlayerState, State
from sleepsound.program_run import Kind, Phase, ProgramStart
from sleepsound.scene import Rise, Scene

# The built-in configuration: max_volume 80, start volume 30, crossfade 4 s.
CTX = PlayerContext.from_config(config.defaults(), ("pink-noise", "rain", "ocean-surf", "birds"))
T0 = 5000.0


class Bedroom:
    """The player's state on a fake clock, driven as the command loop drives it."""

    def __init__(self, state: PlayerState | None = None) -> None:
        self.state = state or player.initial_state(CTX)
        self.now = T0
        self.scenes: list[Scene] = []
        self.events: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any] | None] = []

    def _follow(self, outcome: player.Outcome) -> player.Outcome:
        self.state = outcome.state
        for effect in outcome.effects:
            if isinstance(effect, player.SetScene):
                self.scenes.append(effect.scene)
            elif isinstance(effect, player.Event):
                self.events.append(dict(effect.payload))
        self.replies.append(outcome.reply)
        return outcome

    def send(self, raw: dict[str, Any]) -> player.Outcome:
        return self._follow(program_player.apply(self.state, parse_command(raw), self.now, CTX))

    def fire(self, begin: ProgramStart, due_s: float) -> player.Outcome:
        return self._follow(program_player.start(self.state, begin, due_s, self.now, CTX))

    def wait_until(self, moment: float) -> None:
        """Let time pass to ``moment``, ticking at every deadline on the way."""
        while True:
            deadline = program_player.next_deadline(self.state)
            if deadline is None or deadline > moment:
                break
            self.now = max(self.now, deadline)
            self._follow(program_player.tick(self.state, self.now, CTX))
        self.now = moment

    @property
    def scene(self) -> Scene:
        return self.scenes[-1]

    def event_types(self) -> list[str]:
        return [event["event_type"] for event in self.events]


def wake(**overrides: Any) -> ProgramStart:
    values: dict[str, Any] = {
        "name": "weekday",
        "kind": Kind.WAKE,
        "fade_min": 20.0,
        "sound": "birds",
        "volume": 50.0,
        "snooze_min": 9.0,
    }
    values.update(overrides)
    return ProgramStart(**values)


def bedtime(**overrides: Any) -> ProgramStart:
    values: dict[str, Any] = {
        "name": "night",
        "kind": Kind.BEDTIME,
        "fade_min": 10.0,
        "sound": "rain",
        "volume": 25.0,
        "timer_min": 45.0,
    }
    values.update(overrides)
    return ProgramStart(**values)


def woken_room(**overrides: Any) -> tuple[Bedroom, float]:
    """A wake fired on time, from silence: (the room, the due time)."""
    room = Bedroom()
    due = T0 + 20 * 60
    room.fire(wake(**overrides), due)
    return room, due


# -- the wake ---------------------------------------------------------------------------------


def test_a_wake_rises_from_silence_to_its_volume_exactly_at_the_due_time() -> None:
    room, due = woken_room()
    scene = room.scene
    assert scene.sound == "birds" and scene.volume == 50
    assert scene.rise is not None and scene.rise.duration_s == pytest.approx(20 * 60)
    assert room.state.program is not None and room.state.program.phase is Phase.RISING
    assert room.events == [{"event_type": "program_started", "program": "weekday", "kind": "wake"}]
    assert program_player.next_deadline(room.state) == pytest.approx(due)
    room.wait_until(due + 1)
    assert room.state.program.phase is Phase.RINGING
    assert room.scene is scene  # reaching the volume changes nothing audible


def test_a_wake_never_goes_above_the_ceiling() -> None:
    room, _ = woken_room(volume=95.0)
    assert room.scene.volume == CTX.max_volume == 80
    assert room.state.volume == 80


def test_a_late_wake_still_rises_over_at_least_a_minute() -> None:
    room = Bedroom()
    due = T0 + 10  # the clock synced 10 s before the due time
    room.fire(wake(), due)
    assert room.scene.rise.duration_s == pytest.approx(program_run.LATE_RISE_S)
    room = Bedroom()
    room.fire(wake(), T0 - 5 * 60)  # 5 min late (within the grace): the same minute
    assert room.scene.rise.duration_s == pytest.approx(60.0)
    assert program_run.rise_length_s(T0, T0 + 5 * 60, fade_min=20) == pytest.approx(300)
    assert program_run.rise_length_s(T0, T0 + 10, fade_min=0.5) == pytest.approx(30)
    # A couple of seconds late (a busy loop turn): still up exactly at the due time.
    assert program_run.rise_length_s(T0, T0 + 28, fade_min=0.5) == pytest.approx(28)
    assert program_run.rise_length_s(T0, T0 + 57, fade_min=20) == pytest.approx(57)


def test_a_sleep_sound_still_playing_crossfades_into_the_wake() -> None:
    room = Bedroom()
    room.send({"action": "play", "sound": "rain", "volume": 20, "sleep_timer": 480})
    room.now += 3600
    room.fire(wake(), room.now + 20 * 60)
    scene = room.scene
    assert scene.sound == "birds" and scene.rise is not None
    assert scene.transition_s == pytest.approx(20 * 60)  # the rain fades out under the rise
    assert room.state.timer_deadline_s is None  # the sleep timer does not cut the wake off


def test_the_second_phase_changes_sound_and_volume_without_a_jump() -> None:
    room, due = woken_room(then_after_min=10.0, then_volume=70.0, then_sound="ocean-surf")
    room.wait_until(due + 10 * 60 - 1)
    assert room.scene.sound == "birds"
    room.wait_until(due + 10 * 60 + 1)
    assert room.scene.sound == "ocean-surf" and room.scene.volume == 70
    assert room.scene.transition_s >= program_run.SECOND_PHASE_CROSSFADE_S  # a crossfade
    assert room.scene.rise == Rise(room.state.program.rise_token, 20 * 60)  # no new rise
    assert room.state.program.phase is Phase.SECOND_PHASE


def test_the_button_press_snoozes_and_the_sound_rises_again_after_the_snooze() -> None:
    room, due = woken_room(snooze_min=9.0)
    room.wait_until(due + 30)
    token = room.scene.rise.token
    room.send({"action": "toggle"})  # the button's press
    assert room.replies[-1] == {"status": "ok"}
    assert room.event_types()[-1] == "snoozed"
    assert room.events[-1]["snooze_min"] == 9
    assert room.scene.sound is None and room.scene.transition_s == program_run.SNOOZE_FADE_S
    assert room.scene.rise.token == token  # the fade-out starts from where the sound is
    assert room.state.program.phase is Phase.SNOOZED
    room.wait_until(due + 30 + 9 * 60 - 1)
    assert room.state.state is State.STOPPED and room.scene.sound is None
    room.wait_until(due + 30 + 9 * 60 + 1)
    assert room.scene.sound == "birds" and room.scene.volume == 50
    assert room.scene.rise.token != token
    assert room.scene.rise.duration_s == pytest.approx(program_run.SNOOZE_RISE_S)
    assert room.state.program.phase is Phase.RISING
    room.wait_until(due + 30 + 9 * 60 + 62)
    assert room.state.program.phase is Phase.RINGING


def test_snooze_as_an_action_and_the_program_s_own_snooze() -> None:
    room, due = woken_room(snooze_min=2.0)
    room.wait_until(due + 5)
    room.send({"action": "snooze"})
    assert room.events[-1] == {
        "event_type": "snoozed",
        "program": "weekday",
        "kind": "wake",
        "snooze_min": 2,
    }
    room.wait_until(due + 5 + program_run.SNOOZE_FADE_S + 1)  # faded out
    assert program_player.next_deadline(room.state) == pytest.approx(due + 5 + 120)


def test_the_button_hold_dismisses_and_nothing_rises_again() -> None:
    room, due = woken_room(then_after_min=5.0, then_volume=70.0)
    room.wait_until(due + 60)
    room.send({"action": "timer_cycle"})  # the button's hold
    assert room.event_types()[-1] == "dismissed"
    assert room.scene.sound is None and room.state.program is None
    before = len(room.scenes)
    room.wait_until(due + 3600)
    assert room.state.state is State.STOPPED
    assert len(room.scenes) == before  # no second phase, no new rise


def test_dismiss_while_snoozed_ends_the_program() -> None:
    room, due = woken_room()
    room.wait_until(due + 10)
    room.send({"action": "snooze"})
    room.wait_until(due + 60)
    room.send({"action": "dismiss"})
    assert room.state.program is None and room.event_types()[-1] == "dismissed"
    room.wait_until(due + 3600)
    assert room.state.state is State.STOPPED


def test_any_other_control_during_the_rise_means_awake_and_the_rise_stops_there() -> None:
    room, due = woken_room(then_after_min=5.0, then_volume=70.0)
    room.wait_until(due - 10 * 60)  # half-way: 30 dB under volume 50 -> volume -10 -> 1
    room.send({"volume_step": 4})
    assert room.state.program is None
    assert room.scene.rise is None  # the engine stops the rise where it is
    assert room.scene.sound == "birds" and room.state.state is State.PLAYING
    assert room.state.volume == pytest.approx(1 + 4)
    before = len(room.scenes)
    room.wait_until(due + 3600)  # no second phase, no snooze follows
    assert len(room.scenes) == before and room.state.state is State.PLAYING


def test_awake_late_in_the_rise_keeps_the_level_it_had_reached() -> None:
    room, due = woken_room(volume=80.0)
    room.wait_until(due - 5 * 60)  # three quarters: 15 dB under 80 -> volume 50
    room.send({"action": "next"})  # another sound: awake, crossfading at that level
    assert room.state.volume == pytest.approx(50)
    assert room.scene.volume == pytest.approx(50) and room.scene.sound != "birds"


def test_stop_ends_a_wake_from_the_level_it_had_reached() -> None:
    room, due = woken_room(volume=80.0)
    room.wait_until(due - 5 * 60)
    room.send({"action": "stop"})
    assert room.state.program is None and room.scene.sound is None
    assert room.scene.volume == pytest.approx(50)  # never up to 80 on the way out
    room.wait_until(due + 3600)
    assert room.state.state is State.STOPPED


def test_a_new_volume_during_the_rise_is_taken() -> None:
    room, due = woken_room()
    room.wait_until(due - 60)
    room.send({"volume": 35})
    assert room.state.program is None and room.scene.volume == 35 and room.scene.rise is None


def test_play_while_snoozed_ends_the_program_and_plays() -> None:
    room, due = woken_room()
    room.wait_until(due + 10)
    room.send({"action": "snooze"})
    room.wait_until(due + 60)
    room.send({"action": "play", "sound": "rain"})
    assert room.state.program is None and room.scene.sound == "rain"
    room.wait_until(due + 3600)
    assert room.scene.sound == "rain"  # the snooze does not come back


def test_snooze_and_dismiss_without_a_wake_are_refused() -> None:
    room = Bedroom()
    for action in ("snooze", "dismiss"):
        outcome = room.send({"action": action})
        assert outcome.reply["status"] == "error" and "no wake" in outcome.reply["error"]
        assert outcome.state == room.state
    room.fire(bedtime(), T0)
    assert room.send({"action": "snooze"}).reply["status"] == "error"
    assert room.state.program is not None  # a refused command ends nothing


def test_a_wake_whose_sound_is_gone_still_rings_and_says_why() -> None:
    """A wake must never stay silent: a sound deleted since the program was added falls
    back to the last sound (or a built-in), in last_error and the event."""
    room = Bedroom()
    room.send({"sound": "ocean-surf"})
    room.fire(wake(sound="nightingale"), T0 + 600)
    assert room.event_types() == ["program_started"]
    assert "nightingale" in room.events[0]["warning"]
    assert room.state.state is State.PLAYING and room.state.sound == "ocean-surf"
    assert room.scene.rise is not None and room.scene.sound == "ocean-surf"
    assert "nightingale" in (room.state.last_error or "")
    nothing_chosen = Bedroom()
    nothing_chosen.fire(wake(sound="nightingale", layer="crickets"), T0 + 600)
    assert nothing_chosen.state.sound == "pink-noise"  # the default, a built-in
    assert "without its layer" in nothing_chosen.events[0]["warning"]


def test_a_bedtime_whose_sound_is_gone_is_skipped_and_says_so_in_last_error() -> None:
    room = Bedroom()
    room.fire(bedtime(sound="nightingale"), T0)
    assert room.event_types() == ["program_skipped"]
    assert room.state.state is State.STOPPED
    assert "nightingale" in (room.state.last_error or "")


def test_adding_a_program_that_names_an_unknown_sound_or_preset_is_refused() -> None:
    from sleepsound.schedule import parse_program

    state = player.initial_state(CTX)
    base = {"name": "w", "kind": "wake", "at": "07:00", "days": "daily"}
    assert (
        program_player.program_problem(parse_program({**base, "sound": "rain"}), state, CTX) is None
    )
    for extra, named in [
        ({"sound": "nightingal"}, "nightingal"),
        ({"sound": "rain", "then_after_min": 5, "then_sound": "nope"}, "nope"),
        ({"sound": "rain", "layer": "crickets"}, "crickets"),
        ({"preset": "dawn"}, "dawn"),
    ]:
        problem = program_player.program_problem(parse_program({**base, **extra}), state, CTX)
        assert problem is not None and named in problem, (extra, problem)


# -- bedtime ------------------------------------------------------------------------------------


def test_bedtime_starts_from_silence_with_its_fade_in_and_sleep_timer() -> None:
    room = Bedroom()
    room.fire(bedtime(), T0)
    assert room.scene.sound == "rain" and room.scene.volume == 25
    assert room.scene.transition_s == pytest.approx(10 * 60)  # the slow fade-in
    assert room.scene.rise is None
    assert room.state.timer_deadline_s == pytest.approx(T0 + 45 * 60)
    assert room.state.program.phase is Phase.PLAYING
    assert room.events == [{"event_type": "program_started", "program": "night", "kind": "bedtime"}]
    document = player.status_document(room.state, room.now, 1.7e9, CTX)
    assert document["program"] == {
        "name": "night",
        "kind": "bedtime",
        "phase": "playing",
        "until": None,
    }
    room.wait_until(T0 + 46 * 60)
    assert room.state.state is State.STOPPED and room.state.program is None
    assert "timer_expired" in room.event_types()
    assert player.status_document(room.state, room.now, 1.7e9, CTX)["program"] is None


def test_bedtime_never_interrupts_what_plays() -> None:
    room = Bedroom()
    room.send({"action": "play", "sound": "pink-noise"})
    played = room.state
    room.fire(bedtime(), T0)
    assert room.state == played
    assert room.events[-1]["event_type"] == "program_skipped"
    assert "already playing" in room.events[-1]["reason"]


def test_bedtime_ends_when_stopped_or_another_sound_plays_but_not_on_volume() -> None:
    room = Bedroom()
    room.fire(bedtime(), T0)
    room.send({"volume_step": -2})
    assert room.state.program is not None
    room.send({"action": "toggle"})  # no snooze at bedtime: the press stops
    assert room.state.program is None and room.state.state is State.FADING_OUT
    room = Bedroom()
    room.fire(bedtime(), T0)
    room.send({"sound": "ocean-surf"})
    assert room.state.program is None and room.scene.sound == "ocean-surf"


def test_a_wake_replaces_a_running_bedtime() -> None:
    room = Bedroom()
    room.fire(bedtime(timer_min=0.0), T0)
    room.now += 7 * 3600
    room.fire(wake(), room.now + 1200)
    assert room.state.program.kind is Kind.WAKE and room.scene.sound == "birds"


# -- the pure run -------------------------------------------------------------------------------


def test_the_document_says_when_the_rise_and_the_snooze_end() -> None:
    room, due = woken_room()
    wall = 1_800_000_000.0  # 2027-01-15T08:00:00Z at room.now
    program = player.status_document(room.state, room.now, wall, CTX)["program"]
    assert program == {
        "name": "weekday",
        "kind": "wake",
        "phase": "rising",
        "until": "2027-01-15T08:20:00Z",
    }
    room.wait_until(due + 60)
    room.send({"action": "snooze"})
    program = player.status_document(room.state, room.now, wall, CTX)["program"]
    assert program["phase"] == "snoozed" and program["until"] == "2027-01-15T08:09:00Z"


def test_heard_volume_follows_the_db_linear_rise() -> None:
    run = program_run.begin_wake(
        wake(volume=80.0),
        sound="birds",
        volume=80.0,
        token=1,
        now_s=0.0,
        due_s=600.0,
        max_volume=100.0,
    )
    assert program_run.heard_volume(run, 0.0) == 1.0  # below the quietest step
    assert program_run.heard_volume(run, 300.0) == pytest.approx(20.0)  # 30 dB under 80
    assert program_run.heard_volume(run, 600.0) == pytest.approx(80.0)
    assert program_run.heard_volume(replace(run, phase=Phase.RINGING), 10.0) == 80.0


def test_a_snooze_before_the_second_phase_moves_it_after_the_next_rise() -> None:
    room, due = woken_room(then_after_min=5.0, then_volume=70.0, snooze_min=9.0)
    room.wait_until(due + 60)
    room.send({"action": "snooze"})
    up_again = due + 60 + 9 * 60 + 60
    room.wait_until(up_again + 5 * 60 - 1)  # then_after_min counts from the new rise's end
    assert room.scene.volume == 50
    room.wait_until(up_again + 5 * 60 + 1)
    assert room.scene.volume == 70 and room.state.program.phase is Phase.SECOND_PHASE


def test_a_setting_that_changes_nothing_audible_still_stops_the_rise() -> None:
    room, due = woken_room()
    room.wait_until(due - 10 * 60)
    before = len(room.scenes)
    room.send({"sleep_timer": 30})  # awake: the rise must stop in the engine too
    assert len(room.scenes) == before + 1 and room.scene.rise is None
    assert room.state.program is None and room.state.timer_deadline_s is not None


def test_a_refused_command_during_the_rise_leaves_the_wake_running() -> None:
    room, due = woken_room()
    room.wait_until(due - 60)
    outcome = room.send({"preset": "nope"})
    assert outcome.reply["status"] == "error"  # refused: the wake goes on
    assert room.state.program is not None and room.state.program.phase is Phase.RISING
