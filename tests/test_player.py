"""The player core: transitions, every command, clamping, the sleep timer on a fake clock."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound import config, player
from sleepsound.player import PlayerContext, PlayerState, State, Trigger
from sleepsound.scene import Layer, SleepFade
from sleepsound.statefile import SavedState

# The built-in configuration (max_volume 80, start at 30, fades 3/5/4 s, final fade 10 min,
# default sound pink-noise): the config owns these values, the context only carries them.
CTX = replace(
    PlayerContext.from_config(config.defaults(), ("pink-noise", "rain", "waves", "brown-noise")),
    default_layer="brown-noise",
)
T0 = 1000.0  # an arbitrary monotonic origin: nothing may assume the clock starts at 0


def run(state: PlayerState, raw: dict[str, Any], now: float = T0, ctx=CTX) -> player.Outcome:
    return player.handle(state, raw, now, ctx)


def scenes(outcome: player.Outcome) -> list:
    return [e.scene for e in outcome.effects if isinstance(e, player.SetScene)]


def events(outcome: player.Outcome) -> list:
    return [dict(e.payload) for e in outcome.effects if isinstance(e, player.Event)]


def saves(outcome: player.Outcome) -> list[SavedState]:
    return [e.saved for e in outcome.effects if isinstance(e, player.SaveState)]


def stopped(ctx=CTX) -> PlayerState:
    return player.initial_state(ctx)


def playing(timer: float = 0, ctx=CTX) -> PlayerState:
    return run(stopped(ctx), {"action": "play", "sleep_timer": timer}, T0, ctx).state


def fading_out() -> PlayerState:
    return run(playing(), {"action": "stop", "fade": 30}, T0 + 10).state


def sleep_fading(ctx=CTX) -> PlayerState:
    state = playing(timer=45, ctx=ctx)
    return player.tick(state, player.next_deadline(state), ctx).state


START = {
    State.STOPPED: stopped,
    State.PLAYING: playing,
    State.FADING_OUT: fading_out,
    State.SLEEP_FADING: sleep_fading,
}
DURING = {  # a moment inside each start state (the fade-out above runs T0+10 .. T0+40)
    State.STOPPED: T0 + 20,
    State.PLAYING: T0 + 20,
    State.FADING_OUT: T0 + 20,
    State.SLEEP_FADING: T0 + 2400,
}
COMMAND_TRIGGERS = {
    Trigger.PLAY: {"action": "play"},
    Trigger.STOP: {"action": "stop"},
    Trigger.TOGGLE: {"action": "toggle"},
    Trigger.TOUCH: {"volume_step": 1},
}


def test_the_start_states_are_what_they_claim() -> None:
    for state, make in START.items():
        assert make().state is state


@pytest.mark.parametrize("start", list(START))
@pytest.mark.parametrize("trigger", list(COMMAND_TRIGGERS))
def test_commands_follow_the_transition_table(start: State, trigger: Trigger) -> None:
    before = START[start]()
    outcome = run(before, COMMAND_TRIGGERS[trigger], DURING[start])
    assert outcome.reply == {"status": "ok"}
    assert outcome.state.state is player.next_state(start, trigger)


def test_timers_follow_the_transition_table() -> None:
    state = playing(timer=45)
    state = player.tick(state, player.next_deadline(state), CTX).state
    assert state.state is player.next_state(State.PLAYING, Trigger.FADE_BEGINS)
    state = player.tick(state, player.next_deadline(state), CTX).state
    assert state.state is player.next_state(State.SLEEP_FADING, Trigger.TIMER_ENDS)
    no_final_fade = replace(CTX, fade_min=0)
    state = playing(timer=45, ctx=no_final_fade)
    state = player.tick(state, player.next_deadline(state), no_final_fade).state
    assert state.state is player.next_state(State.PLAYING, Trigger.TIMER_ENDS)
    state = player.tick(state, player.next_deadline(state), no_final_fade).state
    assert state.state is player.next_state(State.FADING_OUT, Trigger.FADE_DONE)


def test_every_table_entry_is_reachable_and_published_within_the_contract() -> None:
    states = {s for pair in player.TRANSITIONS for s in (pair[0], player.TRANSITIONS[pair])}
    assert states == set(State)
    assert set(player.PUBLISHED_STATE.values()) == {"stopped", "playing", "fading_out"}


# -- play and stop -----------------------------------------------------------------------


def test_play_fades_in_the_default_sound_at_the_user_volume() -> None:
    outcome = run(stopped(), {"action": "play"})
    assert outcome.reply == {"status": "ok"}
    [scene] = scenes(outcome)
    assert (scene.sound, scene.volume, scene.max_volume) == ("pink-noise", 30.0, 80.0)
    assert scene.transition_s == CTX.fade_in_s
    assert player.PublishStatus() in outcome.effects


@pytest.mark.parametrize(("fade", "expected"), [(0, player.MIN_FADE_IN_S), (0.1, 0.5), (20, 20.0)])
def test_play_never_jumps_from_silence(fade: float, expected: float) -> None:
    [scene] = scenes(run(stopped(), {"action": "play", "fade": fade}))
    assert scene.transition_s == expected


def test_play_with_everything() -> None:
    outcome = run(stopped(), {"action": "play", "sound": "rain", "volume": 50, "sleep_timer": 30})
    state = outcome.state
    assert (state.state, state.sound, state.volume) == (State.PLAYING, "rain", 50.0)
    assert state.timer_deadline_s == T0 + 30 * 60
    assert scenes(outcome)[0].sound == "rain"
    assert saves(outcome) == [player.saved_view(state)]


def test_play_while_playing_changes_nothing() -> None:
    state = playing(timer=45)
    outcome = run(state, {"action": "play"}, T0 + 60)
    assert outcome.state == state
    assert scenes(outcome) == []


def test_stop_fades_out_then_stops() -> None:
    outcome = run(playing(), {"action": "stop", "fade": 30}, T0 + 10)
    [scene] = scenes(outcome)
    assert scene.sound is None and scene.transition_s == 30
    state = outcome.state
    assert state.state is State.FADING_OUT and player.next_deadline(state) == T0 + 40
    assert player.tick(state, T0 + 39.999, CTX).state is state
    done = player.tick(state, T0 + 40, CTX)
    assert done.state.state is State.STOPPED
    assert scenes(done) == [] and player.PublishStatus() in done.effects


def test_stop_without_fade_uses_the_configured_fade_and_zero_still_ramps() -> None:
    assert scenes(run(playing(), {"action": "stop"}))[0].transition_s == CTX.fade_out_s
    assert (
        scenes(run(playing(), {"action": "stop", "fade": 0}))[0].transition_s == player.MIN_RAMP_S
    )


def test_a_second_stop_can_hurry_the_fade_but_not_slow_it() -> None:
    state = fading_out()  # ends at T0 + 40
    assert run(state, {"action": "stop", "fade": 2}, T0 + 20).state.stop_at_s == T0 + 22
    assert run(state, {"action": "stop", "fade": 600}, T0 + 20).state.stop_at_s == T0 + 40


def test_play_during_a_fade_out_comes_back() -> None:
    outcome = run(fading_out(), {"action": "play"}, T0 + 20)
    assert outcome.state.state is State.PLAYING and outcome.state.stop_at_s is None
    assert scenes(outcome)[0].sound == "pink-noise"


def test_stop_when_stopped_is_harmless() -> None:
    outcome = run(stopped(), {"action": "stop"})
    assert outcome.reply == {"status": "ok"} and outcome.state == stopped()


# -- volume -------------------------------------------------------------------------------

VOLUME_CASES = [
    # (start volume, command, resulting volume, warning)
    (30, {"volume": 50}, 50, None),
    (30, {"volume": 0}, 0, None),
    (30, {"volume": 80}, 80, None),
    (30, {"volume": 95}, 80, "volume clamped to max_volume 80"),
    (30, {"volume": 100}, 80, "volume clamped to max_volume 80"),
    (30, {"volume_step": 5}, 35, None),
    (30, {"volume_step": -5}, 25, None),
    (3, {"volume_step": -5}, 0, None),
    (78, {"volume_step": 5}, 80, "volume clamped to max_volume 80"),
    (80, {"volume_step": 1}, 80, "volume clamped to max_volume 80"),
]


@pytest.mark.parametrize(("start", "raw", "volume", "warning"), VOLUME_CASES)
def test_volume(start: float, raw: dict, volume: float, warning: str | None) -> None:
    state = replace(playing(), volume=float(start))
    outcome = run(state, raw, T0 + 1)
    assert outcome.state.volume == volume
    assert outcome.reply.get("warning") == warning
    if volume != start:
        [scene] = scenes(outcome)
        assert scene.volume == volume
        assert saves(outcome)[0].volume == volume


@pytest.mark.parametrize("raw", [{"volume": 101}, {"volume": -1}, {"volume_step": 200}])
def test_volume_out_of_range_is_refused(raw: dict) -> None:
    state = playing()
    outcome = run(state, raw)
    assert outcome.reply["status"] == "error" and outcome.reply["field"] in raw
    assert outcome.state == state and outcome.effects == ()


def test_volume_while_stopped_is_kept_for_the_next_play() -> None:
    state = run(stopped(), {"volume": 44}).state
    [scene] = scenes(run(state, {"action": "play"}))
    assert scene.volume == 44


# -- sounds ----------------------------------------------------------------------------------


def test_sound_crossfades_when_playing() -> None:
    outcome = run(playing(), {"sound": "rain"}, T0 + 60)
    [scene] = scenes(outcome)
    assert (scene.sound, scene.transition_s) == ("rain", CTX.crossfade_s)
    assert outcome.state.state is State.PLAYING


def test_sound_selects_when_stopped() -> None:
    outcome = run(stopped(), {"sound": "waves"})
    assert outcome.state.sound == "waves" and outcome.state.state is State.STOPPED
    assert scenes(outcome) == []
    assert saves(outcome)[0].sound == "waves"


def test_unknown_sound_is_refused_with_a_suggestion_and_changes_nothing() -> None:
    state = playing()
    outcome = run(state, {"volume": 10, "sound": "rian", "transaction": "t"})
    assert outcome.reply["status"] == "error"
    assert outcome.reply["field"] == "sound"
    assert "did you mean 'rain'" in outcome.reply["error"]
    assert outcome.reply["transaction"] == "t"
    assert outcome.state == state and outcome.effects == ()


NEXT_CASES = [
    ("pink-noise", "next", "rain"),
    ("brown-noise", "next", "pink-noise"),
    ("pink-noise", "previous", "brown-noise"),
    ("waves", "previous", "rain"),
]


@pytest.mark.parametrize(("current", "action", "expected"), NEXT_CASES)
def test_next_and_previous(current: str, action: str, expected: str) -> None:
    selected = run(replace(stopped(), sound=current), {"action": action})
    assert selected.state.sound == expected and scenes(selected) == []
    # No history yet: plain catalogue order (with one, recent sounds are skipped; below).
    crossfaded = run(replace(playing(), sound=current, history=()), {"action": action})
    [scene] = scenes(crossfaded)
    assert (scene.sound, scene.transition_s) == (expected, CTX.crossfade_s)


def test_next_from_a_sound_that_left_the_library_starts_at_the_top() -> None:
    state = replace(stopped(), sound="gone")
    assert run(state, {"action": "next"}).state.sound == "pink-noise"
    assert run(state, {"action": "previous"}).state.sound == "brown-noise"


def test_an_empty_library() -> None:
    empty = replace(CTX, catalogue=(), default_sound=None)
    state = player.initial_state(empty)
    assert state.sound is None
    for raw, field in [({"action": "next"}, "action"), ({"action": "play"}, "sound")]:
        outcome = run(state, raw, ctx=empty)
        assert outcome.reply["field"] == field and outcome.state == state


def test_play_falls_back_when_the_selected_sound_is_gone() -> None:
    outcome = run(replace(stopped(), sound="gone"), {"action": "play"})
    assert outcome.state.sound == "pink-noise"
    assert "no longer in the library" in outcome.reply["warning"]


def test_specs_resolve_ids_for_the_engine() -> None:
    ctx = replace(CTX, specs={"rain": "/var/lib/sleepsound/sounds/rain.flac"})
    state = run(stopped(ctx), {"action": "play", "sound": "rain"}, ctx=ctx).state
    assert player.scene_for(state, ctx, 1.0).sound == "/var/lib/sleepsound/sounds/rain.flac"
    assert player.status_document(state, T0, 0, CTX)["sound"] == "rain"


# -- layer ------------------------------------------------------------------------------------


def test_layer_on_off_and_level() -> None:
    state = playing()
    on = run(state, {"layer": "on", "layer_volume": 20}).state
    assert player.scene_for(on, CTX, 1).layer == Layer("brown-noise", 20.0)
    rain = run(on, {"layer": "rain"}).state
    assert player.scene_for(rain, CTX, 1).layer == Layer("rain", 20.0)
    off = run(rain, {"layer": "off"})
    assert scenes(off)[0].layer is None
    again = run(off.state, {"layer": "on"}).state
    assert again.layer.sound == "rain"  # the last chosen bed comes back
    assert player.status_document(again, T0, 0, CTX)["layer"] == {"sound": "rain", "volume": 20}


def test_layer_is_silent_while_stopped_and_refuses_unknown_sounds() -> None:
    state = run(stopped(), {"layer": "rain"}).state
    assert state.layer.on and player.scene_for(state, CTX, 1).layer is None
    outcome = run(state, {"layer": "rian"})
    assert outcome.reply["field"] == "layer" and "did you mean 'rain'" in outcome.reply["error"]


# -- built-ins with parameters -------------------------------------------------------------


def _ctx_with_parameters() -> PlayerContext:
    """CTX with two more built-ins, a file, and the library's real parameter check."""
    from sleepsound.library.opener import spec_checker
    from sleepsound.sources.presets import load_presets

    return replace(
        CTX,
        catalogue=(*CTX.catalogue, "binaural-delta", "whispers"),
        specs={"waves": "/sounds/waves.flac"},
        check_spec=spec_checker(load_presets().presets),
    )


def test_a_built_in_plays_with_valid_parameters_as_main_sound_or_layer() -> None:
    ctx = _ctx_with_parameters()
    outcome = run(stopped(ctx), {"action": "play", "sound": "rain:spells=true"}, ctx=ctx)
    assert outcome.reply == {"status": "ok"}
    assert scenes(outcome)[0].sound == "rain:spells=true"  # the opener splits it
    bed = run(outcome.state, {"layer": "binaural-delta:carrier=180,beat=2.5"}, ctx=ctx).state
    assert player.scene_for(bed, ctx, 1).layer == Layer("binaural-delta:carrier=180,beat=2.5")
    doc = player.status_document(bed, T0, 0, ctx)
    assert doc["sound"] == "rain:spells=true"
    assert doc["layer"]["sound"] == "binaural-delta:carrier=180,beat=2.5"


@pytest.mark.parametrize(
    ("sound", "words"),
    [
        ("rain:spells=maybe", "spells must be true or false"),
        ("binaural-delta:beat=400", "beat must be a number from 0.5 to 40"),
        ("whispers:move=sideways", "move must be one of"),
        ("rain:spells", "key=value"),
        ("pink-noise:x=1", "takes no parameters"),
        ("waves:x=1", "only built-in sounds take parameters"),
        ("rian:spells=true", "(did you mean 'rain'?)"),
    ],
)
def test_bad_parameters_are_refused_naming_them(sound: str, words: str) -> None:
    ctx = _ctx_with_parameters()
    state = playing(ctx=ctx)
    for key in ("sound", "layer"):
        outcome = run(state, {key: sound}, ctx=ctx)
        assert outcome.state == state and outcome.effects == ()
        assert outcome.reply["field"] == key and words in outcome.reply["error"], outcome.reply


def test_a_saved_sound_with_parameters_comes_back_only_while_they_are_valid() -> None:
    ctx = _ctx_with_parameters()
    kept = player.initial_state(
        ctx, SavedState(sound="whispers:move=around", layer_sound="rain:x=1")
    )
    assert kept.sound == "whispers:move=around"
    assert kept.layer.sound is None  # rain has no parameter x: forgotten, not played
    gone = player.initial_state(ctx, SavedState(sound="whispers:move=sideways"))
    assert gone.sound == "pink-noise"


# -- queries, transactions, errors --------------------------------------------------------------


def test_a_status_query_changes_nothing_and_asks_for_a_publish() -> None:
    for start, make in START.items():
        state = make()
        outcome = run(state, {"action": "status", "transaction": 5}, DURING[start])
        assert outcome.state == state
        assert outcome.effects == (player.PublishStatus(),)
        assert outcome.reply == {"status": "ok", "transaction": 5}


def test_a_malformed_command_is_answered_not_raised() -> None:
    outcome = run(playing(), {"volume": "loud", "transaction": "x"})
    assert outcome.reply == {
        "status": "error",
        "error": "volume must be a number from 0 to 100, not a string",
        "field": "volume",
        "transaction": "x",
    }


def test_playback_failure_stops_and_says_why_until_the_next_play() -> None:
    outcome = player.playback_failed(playing(timer=45), "rain.flac is corrupt", T0 + 5, CTX)
    assert outcome.state.state is State.STOPPED
    assert scenes(outcome)[0].sound is None
    assert events(outcome) == [{"event_type": "playback_error", "error": "rain.flac is corrupt"}]
    doc = player.status_document(outcome.state, T0 + 5, 0, CTX)
    assert doc["last_error"] == "rain.flac is corrupt" and doc["timer_ends_at"] is None
    assert run(outcome.state, {"action": "play"}).state.last_error is None


# -- the output: missing, failing, back; shutdown ------------------------------------------------

NO_CARD = "no sound card: hw:CARD=Device not found. Playing to the clock output (silence) instead"


def publishes(outcome: player.Outcome) -> bool:
    return any(isinstance(e, player.PublishStatus) for e in outcome.effects)


def test_a_missing_card_plays_to_the_clock_and_says_why_until_the_card_is_back() -> None:
    clock = player.OutputInfo(
        name="default", kind="alsa", audible=False, problem=NO_CARD, stand_in=True
    )
    missing = player.output_opened(playing(), clock, T0, CTX)
    doc = player.status_document(missing.state, T0, 0, CTX)
    assert doc["output"]["audible"] is False and doc["output"]["connected"] is False
    assert doc["last_error"] == NO_CARD and publishes(missing)
    assert missing.state.state is State.PLAYING  # the sound goes on, to the clock
    # Writing to the clock is not being heard: the health check changes nothing.
    assert player.output_back(missing.state, T0 + 10, CTX).state == missing.state
    card = player.OutputInfo(
        name="default", kind="alsa", device="hw:CARD=Device", audible=True, connected=True
    )
    back = player.output_opened(missing.state, card, T0 + 20, CTX)
    doc = player.status_document(back.state, T0 + 20, 0, CTX)
    assert doc["output"] == {
        "name": "default",
        "kind": "alsa",
        "device": "hw:CARD=Device",
        "audible": True,
        "connected": True,
    }
    assert doc["last_error"] is None and publishes(back)


def test_a_card_back_leaves_another_error_in_place() -> None:
    clock = player.OutputInfo(name="clock", audible=False, problem=NO_CARD)
    missing = player.output_opened(stopped(), clock, T0, CTX).state
    failed = player.playback_failed(missing, "rain.flac is corrupt", T0 + 1, CTX).state
    card = player.OutputInfo(name="default", audible=True)
    back = player.output_opened(failed, card, T0 + 2, CTX).state
    assert back.last_error == "rain.flac is corrupt"


def test_an_output_failure_is_said_once_and_the_sound_comes_back_with_the_device() -> None:
    state = player.output_opened(playing(), player.OutputInfo("default", True), T0, CTX).state
    lost = player.output_failed(state, "the sound card went away", T0 + 1, CTX)
    assert events(lost) == [{"event_type": "playback_error", "error": "the sound card went away"}]
    assert scenes(lost) == []  # the scene stays: the audio thread retries with it
    doc = player.status_document(lost.state, T0 + 1, 0, CTX)
    assert doc["output"]["audible"] is False and doc["last_error"] == "the sound card went away"
    assert lost.state.state is State.PLAYING
    again = player.output_failed(lost.state, "the sound card went away", T0 + 2, CTX)
    assert again.effects == () and again.state == lost.state  # every retry: no news
    other = player.output_failed(lost.state, "the device is busy", T0 + 3, CTX)
    assert events(other) == [{"event_type": "playback_error", "error": "the device is busy"}]
    back = player.output_back(lost.state, T0 + 4, CTX)
    assert player.status_document(back.state, T0 + 4, 0, CTX)["output"]["audible"] is True
    assert publishes(back)
    assert player.output_back(back.state, T0 + 5, CTX).effects == ()  # nothing new
    # After the device came back, the same failure is news again.
    relapse = player.output_failed(back.state, "the sound card went away", T0 + 6, CTX)
    assert len(events(relapse)) == 1


def test_releasing_the_output_silences_it_and_keeps_the_state() -> None:
    state = playing()
    outcome = player.release_output(state, CTX, 0.5)
    assert outcome.state == state
    assert [(s.sound, s.transition_s) for s in scenes(outcome)] == [(None, 0.5)]
    # The next output starts from the same state: the sound is back.
    assert player.scene_for(outcome.state, CTX, CTX.fade_in_s).sound == "pink-noise"


@pytest.mark.parametrize("start", list(START))
def test_shutdown_is_silent_within_its_fade_from_every_state(start: State) -> None:
    now = DURING[start]
    outcome = player.shutdown(START[start](), now, CTX, 1.5)
    state = outcome.state
    assert state.state in (State.FADING_OUT, State.STOPPED)
    assert state.stop_at_s is None or state.stop_at_s <= now + 1.5
    assert outcome.reply is None
    assert all(scene.sound is None or scene.volume == 0.0 for scene in scenes(outcome)[1:])


def test_shutdown_during_a_slow_stop_fade_turns_the_volume_down() -> None:
    outcome = player.shutdown(fading_out(), T0 + 12, CTX, 1.5)
    assert scenes(outcome)[-1].volume == 0.0
    quick = player.shutdown(playing(), T0 + 12, CTX, 1.5)
    assert [s.volume for s in scenes(quick)] != [0.0]  # an ordinary fade-out does it


# -- the sleep timer, on a fake clock -----------------------------------------------------------


def test_a_45_minute_timer() -> None:
    state = run(stopped(), {"action": "play", "sleep_timer": 45, "volume": 40}, T0).state
    assert player.next_deadline(state) == T0 + 35 * 60
    # Nothing happens before the final fade; tick every simulated second to be sure.
    for second in range(1, 35 * 60):
        assert player.tick(state, T0 + second - 0.001, CTX).state is state
    fade = player.tick(state, T0 + 35 * 60, CTX)
    state = fade.state
    assert state.state is State.SLEEP_FADING
    [scene] = scenes(fade)
    assert scene.sleep_fade == SleepFade(token=1, duration_s=10 * 60)
    assert scene.sound == "pink-noise" and scene.volume == 40  # the engine does the fading
    assert player.status_document(state, T0 + 2100, 0, CTX)["state"] == "fading_out"
    assert player.next_deadline(state) == T0 + 45 * 60
    for second in range(35 * 60, 45 * 60):
        assert player.tick(state, T0 + second + 0.999, CTX).state is state
    end = player.tick(state, T0 + 45 * 60, CTX)
    state = end.state
    assert state.state is State.STOPPED
    assert events(end) == [{"event_type": "timer_expired"}]
    assert scenes(end)[0].sound is None
    assert scenes(end)[0].sleep_fade == SleepFade(1, 600)  # nothing rises after the end
    assert state.volume == 40 and player.saved_view(state).volume == 40  # the fade never wrote it
    assert saves(end) == []
    doc = player.status_document(state, T0 + 2700, 0, CTX)
    assert (doc["volume"], doc["sleep_timer"], doc["timer_ends_at"]) == (40, 45, None)
    assert player.next_deadline(state) is None
    # The next play starts at the user's volume and with the timer again, fade cleared.
    again = run(state, {"action": "play"}, T0 + 9000)
    assert scenes(again)[0].sleep_fade is None and scenes(again)[0].volume == 40
    assert again.state.timer_deadline_s == T0 + 9000 + 2700


@pytest.mark.parametrize(
    "raw",
    [
        {"volume_step": 2},
        {"volume": 35},
        {"action": "play"},
        {"action": "toggle"},
        {"sound": "rain"},
        {"action": "next"},
        {"layer": "on"},
    ],
)
def test_a_touch_during_the_final_fade_cancels_it_and_restarts_the_timer(raw: dict) -> None:
    state = sleep_fading()
    woken = run(state, raw, T0 + 2400)
    assert woken.reply["status"] == "ok"
    assert woken.state.state is State.PLAYING
    [scene] = scenes(woken)
    assert scene.sleep_fade is None and scene.sound is not None  # the engine ramps back up
    assert woken.state.timer_deadline_s == T0 + 2400 + 45 * 60
    assert player.next_deadline(woken.state) == T0 + 2400 + 35 * 60
    refade = player.tick(woken.state, T0 + 2400 + 35 * 60, CTX)
    assert scenes(refade)[0].sleep_fade == SleepFade(token=2, duration_s=600)


def test_a_touch_before_the_final_fade_leaves_the_timer_alone() -> None:
    state = playing(timer=45)
    touched = run(state, {"volume_step": 1}, T0 + 600).state
    assert touched.timer_deadline_s == state.timer_deadline_s


def test_stop_during_the_final_fade_keeps_fading_down() -> None:
    outcome = run(sleep_fading(), {"action": "stop", "volume": 20}, T0 + 2400)
    assert outcome.state.state is State.FADING_OUT
    [scene] = scenes(outcome)
    assert scene.sound is None and scene.sleep_fade == SleepFade(1, 600)


def test_a_status_query_during_the_final_fade_is_not_a_touch() -> None:
    state = sleep_fading()
    assert run(state, {"action": "status"}, T0 + 2400).state is state


def test_a_timer_shorter_than_the_fade_fades_whole_after_the_fade_in() -> None:
    outcome = run(stopped(), {"action": "play", "sleep_timer": 5}, T0)
    assert outcome.state.state is State.PLAYING
    assert player.next_deadline(outcome.state) == T0 + CTX.fade_in_s
    fade = player.tick(outcome.state, T0 + 3, CTX)
    assert scenes(fade)[0].sleep_fade == SleepFade(1, 5 * 60 - 3)
    end = player.tick(fade.state, T0 + 300, CTX)
    assert end.state.state is State.STOPPED and events(end) == [{"event_type": "timer_expired"}]


def test_without_a_final_fade_the_timer_ends_in_the_ordinary_fade_out() -> None:
    ctx = replace(CTX, fade_min=0)
    state = playing(timer=15, ctx=ctx)
    assert player.next_deadline(state) == T0 + 900
    end = player.tick(state, T0 + 900, ctx)
    assert end.state.state is State.FADING_OUT
    assert scenes(end)[0].transition_s == ctx.fade_out_s
    assert events(end) == [{"event_type": "timer_expired"}]


def test_a_late_tick_still_stops() -> None:
    state = playing(timer=45)
    late = player.tick(state, T0 + 4 * 3600, CTX)
    assert late.state.state is State.FADING_OUT
    assert events(late) == [{"event_type": "timer_expired"}]


def test_changing_the_timer_while_playing() -> None:
    state = playing(timer=45)
    shorter = run(state, {"sleep_timer": 20}, T0 + 600).state
    assert shorter.timer_deadline_s == T0 + 600 + 1200
    off = run(shorter, {"sleep_timer": 0}, T0 + 700).state
    assert off.timer_deadline_s is None and player.next_deadline(off) is None
    assert player.status_document(off, T0 + 700, 0, CTX)["timer_ends_at"] is None


CYCLE = [(0, 15), (15, 30), (30, 45), (45, 60), (60, 90), (90, 0), (20, 30), (120, 0)]


@pytest.mark.parametrize(("preset", "expected"), CYCLE)
def test_timer_cycle(preset: float, expected: float) -> None:
    state = replace(stopped(), timer_preset_min=float(preset))
    outcome = run(state, {"action": "timer_cycle"})
    assert outcome.state.timer_preset_min == expected
    assert outcome.state.timer_deadline_s is None  # stopped: a choice for the next play
    running = run(replace(playing(), timer_preset_min=float(preset)), {"action": "timer_cycle"})
    expected_deadline = T0 + expected * 60 if expected else None
    assert running.state.timer_deadline_s == expected_deadline


def test_configured_timer_min_applies_on_every_play_unless_the_command_says_otherwise() -> None:
    ctx = replace(CTX, timer_min=30)
    state = player.initial_state(ctx, SavedState(sleep_timer=90))
    assert state.timer_preset_min == 30
    state = run(state, {"action": "play"}, T0, ctx).state
    assert state.timer_deadline_s == T0 + 1800
    state = run(state, {"sleep_timer": 60}, T0 + 10, ctx).state
    state = run(state, {"action": "stop"}, T0 + 20, ctx).state
    assert player.status_document(state, T0 + 20, 0, CTX)["sleep_timer"] == 30
    state = run(state, {"action": "play"}, T0 + 100, ctx).state
    assert state.timer_deadline_s == T0 + 100 + 1800
    state = run(state, {"action": "stop"}, T0 + 200, ctx).state
    state = run(state, {"sleep_timer": 15}, T0 + 300, ctx).state  # chosen while stopped
    state = run(state, {"action": "play"}, T0 + 400, ctx).state
    assert state.timer_deadline_s == T0 + 400 + 900
    state = run(state, {"action": "stop"}, T0 + 500, ctx).state
    state = run(state, {"action": "play", "sleep_timer": 0}, T0 + 600, ctx).state
    assert state.timer_deadline_s is None


def test_without_timer_min_the_last_choice_is_kept() -> None:
    state = run(stopped(), {"action": "play", "sleep_timer": 60}).state
    state = run(state, {"action": "stop"}, T0 + 10).state
    assert state.timer_preset_min == 60
    state = run(state, {"action": "play"}, T0 + 100).state
    assert state.timer_deadline_s == T0 + 100 + 3600


# -- start-up, reconfiguration, status ------------------------------------------------------------


def test_initial_state_restores_what_is_still_valid() -> None:
    saved = SavedState(
        volume=95, sound="rain", sleep_timer=30, layer_sound="waves", layer_volume=12, layer_on=True
    )
    state = player.initial_state(CTX, saved)
    assert (state.volume, state.sound, state.timer_preset_min) == (80, "rain", 30)
    assert state.layer == player.LayerSetting("waves", 12, True)
    gone = player.initial_state(
        CTX, SavedState(sound="deleted", layer_sound="deleted", layer_on=True)
    )
    assert gone.sound == "pink-noise" and gone.layer.on is False
    assert player.initial_state(CTX).volume == 30


def test_reconfigure_lowers_the_ceiling_audibly() -> None:
    state = run(playing(), {"volume": 70}).state
    lower = replace(CTX, max_volume=50)
    outcome = player.reconfigure(state, T0 + 5, lower)
    assert outcome.state.volume == 50
    assert player.status_document(outcome.state, T0 + 5, 0, lower)["max_volume"] == 50
    assert player.PublishStatus() in outcome.effects  # the document's ceiling changed
    assert scenes(outcome)[0].volume == 50 and scenes(outcome)[0].max_volume == 50


def test_status_document_is_exactly_the_contract() -> None:
    state = run(stopped(), {"action": "play", "sleep_timer": 45, "volume": 33.4}, T0).state
    wall = dt.datetime(2026, 1, 2, 22, 0, 0, tzinfo=dt.UTC).timestamp()
    doc = player.status_document(state, T0 + 60, wall, CTX)
    assert doc == {
        "state": "playing",
        "sound": "pink-noise",
        "volume": 33,
        "max_volume": 80,
        "sleep_timer": 45,
        "timer_ends_at": "2026-01-02T22:44:00Z",
        "layer": None,
        "last_error": None,
        "output": {
            "name": "none",
            "kind": "none",
            "device": None,
            "audible": False,
            "connected": False,
        },
        "outputs": ["default"],
        "preset": None,
        "presets": [],
        "program": None,
        "next_program": None,
        "next_wake": None,
        "programs": [],
        "clock_synced": None,
    }
    assert dt.datetime.fromisoformat(doc["timer_ends_at"]).tzinfo is not None
    assert player.status_document(stopped(), T0, wall, CTX)["state"] == "stopped"


def test_saved_state_changes_only_with_saved_settings() -> None:
    state = playing()
    assert saves(run(state, {"action": "status"})) == []
    assert saves(run(state, {"action": "stop"}, T0 + 1)) == []
    assert saves(run(state, {"volume_step": 1}))[0].volume == 31


# -- invariants over random command sequences -----------------------------------------------------

RAW_COMMANDS = st.one_of(
    st.sampled_from(
        [
            {"action": a}
            for a in ("play", "stop", "toggle", "next", "previous", "timer_cycle", "status")
        ]
    ),
    st.builds(lambda v: {"volume": v}, st.integers(-10, 110)),
    st.builds(lambda v: {"volume_step": v}, st.integers(-30, 30)),
    st.builds(lambda v: {"sleep_timer": v}, st.sampled_from([0, 1, 5, 45])),
    st.builds(lambda v: {"sound": v}, st.sampled_from(["rain", "waves", "nope"])),
    st.builds(lambda v: {"layer": v}, st.sampled_from(["on", "off", "rain"])),
    st.builds(lambda f: {"action": "stop", "fade": f}, st.sampled_from([0, 1, 30])),
    st.builds(lambda f: {"action": "play", "fade": f}, st.sampled_from([0, 2])),
)
STEPS = st.lists(
    st.tuples(st.floats(0, 900, allow_nan=False), st.one_of(st.none(), RAW_COMMANDS)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_invariants(steps: list) -> None:
    state, now = stopped(), T0
    scene = player.scene_for(state, CTX, 0)
    for gap, raw in steps:
        now += gap
        outcome = player.tick(state, now, CTX) if raw is None else run(state, raw, now)
        if outcome.reply and outcome.reply["status"] == "error":
            assert outcome.state == state and outcome.effects == ()
        for new in scenes(outcome):
            assert new.volume <= CTX.max_volume
            if scene.sound is None and new.sound is not None:
                assert new.transition_s >= player.MIN_FADE_IN_S  # never silence straight to loud
            scene = new
        state = outcome.state
        assert 0 <= state.volume <= CTX.max_volume
        assert (scene.sound is not None) == state.audible
        assert (state.timer_deadline_s is not None) <= state.audible
        deadline = player.next_deadline(state)
        assert deadline is None or deadline >= now or state.state is not State.STOPPED


def test_context_from_the_real_config() -> None:
    loaded = config.parse_toml(
        "[audio]\nmax_volume = 60\nvolume = 20\n[sleep]\ntimer_min = 30\npresets_min = [60, 15]\n"
    )
    ctx = PlayerContext.from_config(loaded, ["rain", "pink-noise"])
    assert (ctx.max_volume, ctx.start_volume, ctx.timer_min) == (60, 20, 30)
    assert ctx.presets_min == (15, 60) and ctx.default_sound == "pink-noise"
    state = player.initial_state(ctx)
    assert (state.volume, state.sound, state.timer_preset_min) == (20, "pink-noise", 30)


# -- rotation and beds (the library's rules through the player) ---------------------------------


def _entry(sound_id: str, kind: str = "texture", spatial: str = "stereo", category: str = "x"):
    from sleepsound.library.catalog import SoundEntry
    from sleepsound.sources.metadata import SoundMeta

    spec = f"/sounds/{sound_id}.flac" if kind == "file" else sound_id
    meta = SoundMeta(title=sound_id, category=category, spatial=spatial)
    return SoundEntry(id=sound_id, kind=kind, spec=spec, meta=meta)  # type: ignore[arg-type]


BEDS = {
    "pink-noise": _entry("pink-noise", "generator"),
    "binaural-delta": _entry("binaural-delta", "generator", "binaural"),
    "ears": _entry("ears", "file", "binaural"),
}
MONO = replace(
    CTX,
    catalogue=(*CTX.catalogue, "binaural-delta", "ears"),
    entries=BEDS,
    out_channels=1,
)


def test_next_never_repeats_and_avoids_recent_sounds() -> None:
    state = playing()
    heard = [state.sound]
    for _ in range(12):
        state = run(state, {"action": "next"}).state
        heard.append(state.sound)
    assert all(a != b for a, b in itertools.pairwise(heard))
    # Four sounds, three avoided: every window of four plays holds each sound once.
    for i in range(len(heard) - 3):
        assert len(set(heard[i : i + 4])) == 4, heard


def test_next_avoids_a_sound_chosen_by_hand_and_previous_goes_back_through_history() -> None:
    state = run(playing(), {"sound": "waves"}).state  # pink-noise, then waves
    # In catalogue order after waves comes brown-noise, then pink-noise (just heard): skipped.
    after = run(state, {"action": "next"}).state
    assert after.sound == "brown-noise"
    again = run(after, {"action": "next"}).state
    assert again.sound == "rain"
    back = run(again, {"action": "previous"}).state
    assert back.sound == "brown-noise"
    assert run(back, {"action": "previous"}).state.sound == "waves"


def test_rotation_scope_limits_next() -> None:
    ctx = replace(CTX, rotation=("rain", "waves"), rotation_scope="category:nature")
    state = playing(ctx=ctx)  # pink-noise, outside the scope
    sounds = []
    for _ in range(4):
        state = run(state, {"action": "next"}, ctx=ctx).state
        sounds.append(state.sound)
    assert sounds == ["rain", "waves", "rain", "waves"]


def test_an_empty_rotation_scope_steps_through_everything_and_says_so() -> None:
    ctx = replace(CTX, rotation=(), rotation_scope="user")
    outcome = run(playing(ctx=ctx), {"action": "next"}, ctx=ctx)
    assert outcome.state.sound == "rain"
    assert "no sounds in the rotation 'user'" in outcome.reply["warning"]


def test_history_never_shows_in_the_status_or_the_saved_state() -> None:
    state = playing()
    moved = run(state, {"action": "next"})
    back = run(moved.state, {"sound": "pink-noise"}).state
    assert back.history[-1] == "pink-noise" and len(back.history) == 3
    assert player.saved_view(back) == player.saved_view(state)


def test_a_binaural_bed_on_a_mono_output_plays_monaural_with_a_warning() -> None:
    outcome = run(playing(ctx=MONO), {"layer": "binaural-delta"}, ctx=MONO)
    assert outcome.reply["status"] == "ok"
    assert "plays as a monaural beat" in outcome.reply["warning"]
    assert scenes(outcome)[0].layer == Layer("binaural-delta", 30.0)


def test_a_binaural_bed_on_a_mono_output_is_refused_when_configured() -> None:
    refuse = replace(MONO, mono_binaural="refuse")
    state = playing(ctx=refuse)
    outcome = run(state, {"layer": "binaural-delta", "transaction": 9}, ctx=refuse)
    assert outcome.reply["status"] == "error" and outcome.reply["field"] == "layer"
    assert "mono_binaural" in outcome.reply["error"] and outcome.reply["transaction"] == 9
    assert outcome.state == state and outcome.effects == ()
    # A binaural recording has no monaural variant: refused even in "monaural" mode.
    recording = run(playing(ctx=MONO), {"layer": "ears"}, ctx=MONO)
    assert recording.reply["field"] == "layer" and "no monaural version" in recording.reply["error"]
    # A noise bed is fine, and so is the binaural bed on a stereo output.
    assert run(state, {"layer": "pink-noise"}, ctx=refuse).reply == {"status": "ok"}
    stereo = replace(refuse, out_channels=2)
    assert run(playing(ctx=stereo), {"layer": "ears"}, ctx=stereo).reply == {"status": "ok"}


def test_a_binaural_bed_goes_off_when_the_output_becomes_mono() -> None:
    stereo = replace(MONO, out_channels=2, mono_binaural="refuse")
    state = run(playing(ctx=stereo), {"layer": "binaural-delta"}, ctx=stereo).state
    mono = replace(stereo, out_channels=1)
    outcome = player.reconfigure(state, T0, mono)
    assert not outcome.state.layer.on and scenes(outcome)[0].layer is None
    saved = SavedState(layer_sound="binaural-delta", layer_on=True)
    assert not player.initial_state(mono, saved).layer.on
    assert player.initial_state(stereo, saved).layer.on


def test_a_binaural_recording_as_the_main_sound_on_mono_warns() -> None:
    outcome = run(stopped(MONO), {"action": "play", "sound": "ears"}, ctx=MONO)
    assert outcome.state.sound == "ears" and "loses its effect" in outcome.reply["warning"]


def test_context_carries_rotation_entries_and_output_channels() -> None:
    loaded = config.parse_toml(
        '[audio]\nchannels = 1\n[sounds]\nrotation = "category:nature"\nmono_binaural = "refuse"\n'
    )
    ctx = PlayerContext.from_config(loaded, ["rain"], rotation=["rain"], entries=BEDS)
    assert (ctx.out_channels, ctx.mono_binaural, ctx.rotation) == (1, "refuse", ("rain",))
    assert ctx.rotation_scope == "category:nature" and ctx.entries["ears"].kind == "file"
