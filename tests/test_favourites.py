"""Presets (favourites), pure: save, play, remove, next, config presets, bad names and input."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sleepsound import config, favourites, player
from sleepsound.commands import parse_command, parse_plain
from sleepsound.errors import CommandError
from sleepsound.favourites import Preset, StorePresets
from sleepsound.player import PlayerContext, PlayerState, State

SOUNDS = ("pink-noise", "rain", "waves", "brown-noise")
CONFIGURED = {"deep": Preset(sound="brown-noise", volume=20.0, sleep_timer=60.0)}
CTX = PlayerContext.from_config(config.defaults(), SOUNDS)
CTX_WITH_CONFIG = replace(CTX, presets=CONFIGURED)
T0 = 1000.0


def run(state: PlayerState, raw: dict[str, Any], now: float = T0, ctx=CTX) -> player.Outcome:
    return player.handle(state, raw, now, ctx)


def ok(state: PlayerState, raw: dict[str, Any], ctx=CTX, now: float = T0) -> player.Outcome:
    outcome = run(state, raw, now, ctx)
    assert outcome.reply is not None and outcome.reply["status"] == "ok", outcome.reply
    return outcome


def refused(state: PlayerState, raw: dict[str, Any], ctx=CTX) -> dict[str, Any]:
    outcome = run(state, raw, T0, ctx)
    assert outcome.state == state, "a refused command must change nothing"
    assert outcome.effects == ()
    assert outcome.reply is not None and outcome.reply["status"] == "error"
    return outcome.reply


def stored(outcome: player.Outcome) -> list[favourites.Presets]:
    return [e.presets for e in outcome.effects if isinstance(e, StorePresets)]


def doc(state: PlayerState, ctx=CTX) -> dict[str, Any]:
    return player.status_document(state, T0, 0.0, ctx)


def with_rain_mix() -> PlayerState:
    """Playing rain with a pink-noise layer at 25, volume 35, timer 45."""
    state = player.initial_state(CTX)
    raw = {"action": "play", "sound": "rain", "volume": 35, "sleep_timer": 45}
    state = ok(state, raw).state
    return ok(state, {"layer": "pink-noise", "layer_volume": 25}).state


def test_save_stores_what_plays_and_asks_the_shell_to_write_it() -> None:
    outcome = ok(with_rain_mix(), {"preset_save": "rainy-night"})
    assert outcome.reply["preset"] == "rainy-night"
    expected = Preset("rain", volume=35.0, layer="pink-noise", layer_volume=25.0, sleep_timer=45.0)
    assert stored(outcome) == [(("rainy-night", expected),)]
    assert doc(outcome.state)["presets"] == ["rainy-night"]
    assert doc(outcome.state)["preset"] == "rainy-night"
    assert outcome.state.state is State.PLAYING  # saving changes nothing audible


def test_save_while_stopped_stores_the_selection() -> None:
    state = player.initial_state(CTX)
    outcome = ok(state, {"preset_save": "quiet"})
    (presets,) = stored(outcome)
    assert presets[0][1].sound == "pink-noise"
    assert presets[0][1].layer is None  # the layer is off: the preset plays without one


def test_play_sets_every_setting_and_fades_in_like_play() -> None:
    saved = ok(with_rain_mix(), {"preset_save": "rainy-night"}).state
    # Someone changes everything, stops; the preset brings the mix back.
    changed = ok(saved, {"sound": "waves", "volume": 60, "layer": "off", "sleep_timer": 0}).state
    assert doc(changed)["preset"] is None  # another sound: no longer that preset
    stopped = ok(changed, {"action": "stop", "fade": 0}, now=T0 + 1).state
    stopped = player.tick(stopped, T0 + 2, CTX).state
    outcome = ok(stopped, {"preset": "rainy-night"}, now=T0 + 3)
    state = outcome.state
    assert outcome.reply["preset"] == "rainy-night"
    assert state.state is State.PLAYING
    assert (state.sound, state.volume, state.timer_preset_min) == ("rain", 35.0, 45.0)
    assert (state.layer.sound, state.layer.on, state.layer.volume) == ("pink-noise", True, 25.0)
    (scene,) = [e.scene for e in outcome.effects if isinstance(e, player.SetScene)]
    assert scene.transition_s == CTX.fade_in_s  # the fade-in of play, not a jump
    assert doc(state)["preset"] == "rainy-night"
    assert doc(state)["timer_ends_at"] is not None


def test_play_takes_a_fade() -> None:
    saved = ok(player.initial_state(CTX), {"preset_save": "one"}).state
    outcome = ok(saved, {"preset": "one", "fade": 20})
    (scene,) = [e.scene for e in outcome.effects if isinstance(e, player.SetScene)]
    assert scene.transition_s == 20


def test_play_never_passes_the_ceiling() -> None:
    loud = replace(CTX, presets={"loud": Preset("rain", volume=100.0)})
    outcome = ok(player.initial_state(loud), {"preset": "loud"}, ctx=loud)
    assert outcome.state.volume == loud.max_volume
    assert "clamped" in outcome.reply["warning"]


def test_unknown_preset_is_refused_with_did_you_mean() -> None:
    state = ok(player.initial_state(CTX), {"preset_save": "rainy-night"}).state
    reply = refused(state, {"preset": "rainy-nite"})
    assert "unknown preset 'rainy-nite'" in reply["error"]
    assert "did you mean 'rainy-night'" in reply["error"]


def test_a_preset_whose_sound_left_the_library_is_refused_and_changes_nothing() -> None:
    gone = replace(CTX, presets={"old": Preset("vinyl-crackle")})
    reply = refused(player.initial_state(gone), {"preset": "old"}, ctx=gone)
    assert "vinyl-crackle" in reply["error"]


def test_remove_forgets_it_and_writes_the_file() -> None:
    state = ok(player.initial_state(CTX), {"preset_save": "one"}).state
    outcome = ok(state, {"preset_remove": "one"})
    assert stored(outcome) == [()]
    assert doc(outcome.state)["presets"] == []
    assert doc(outcome.state)["preset"] is None
    assert "unknown preset" in refused(outcome.state, {"preset": "one"})["error"]


def test_remove_unknown_is_refused_with_did_you_mean() -> None:
    state = ok(player.initial_state(CTX), {"preset_save": "lullaby"}).state
    reply = refused(state, {"preset_remove": "lulaby"})
    assert "did you mean 'lullaby'" in reply["error"]


def test_config_presets_are_listed_and_play() -> None:
    state = player.initial_state(CTX_WITH_CONFIG)
    assert doc(state, CTX_WITH_CONFIG)["presets"] == ["deep"]
    played = ok(state, {"preset": "deep"}, ctx=CTX_WITH_CONFIG).state
    assert (played.sound, played.volume, played.timer_preset_min) == ("brown-noise", 20.0, 60.0)
    assert played.layer.on is False  # a preset without a layer plays without one


def test_a_config_preset_cannot_be_removed_at_runtime() -> None:
    reply = refused(
        player.initial_state(CTX_WITH_CONFIG), {"preset_remove": "deep"}, ctx=CTX_WITH_CONFIG
    )
    assert "written in the config" in reply["error"] and "[presets.deep]" in reply["error"]


def test_a_runtime_save_overrides_a_config_preset_and_says_so() -> None:
    state = ok(player.initial_state(CTX_WITH_CONFIG), {"sound": "waves"}, ctx=CTX_WITH_CONFIG).state
    outcome = ok(state, {"preset_save": "deep"}, ctx=CTX_WITH_CONFIG)
    assert "overrides the config's [presets.deep]" in outcome.reply["warning"]
    assert doc(outcome.state, CTX_WITH_CONFIG)["presets"] == ["deep"]  # once, not twice
    played = ok(outcome.state, {"preset": "deep"}, ctx=CTX_WITH_CONFIG).state
    assert played.sound == "waves"
    # Removing the saved one brings the config's back, and says so.
    back = ok(played, {"preset_remove": "deep"}, ctx=CTX_WITH_CONFIG)
    assert "config's [presets.deep] applies again" in back.reply["warning"]
    assert ok(back.state, {"preset": "deep"}, ctx=CTX_WITH_CONFIG).state.sound == "brown-noise"


def test_next_preset_cycles_by_name_and_plays() -> None:
    state = player.initial_state(CTX_WITH_CONFIG)
    for name, sound in (("alpha", "rain"), ("zulu", "waves")):
        state = ok(state, {"sound": sound}, ctx=CTX_WITH_CONFIG).state
        state = ok(state, {"preset_save": name}, ctx=CTX_WITH_CONFIG).state
    state = ok(state, {"sound": "pink-noise"}, ctx=CTX_WITH_CONFIG).state  # no preset now
    seen = []
    for _ in range(4):
        state = ok(state, {"action": "next_preset"}, ctx=CTX_WITH_CONFIG).state
        assert state.audible
        seen.append((doc(state, CTX_WITH_CONFIG)["preset"], state.sound))
    assert seen == [
        ("alpha", "rain"),
        ("deep", "brown-noise"),
        ("zulu", "waves"),
        ("alpha", "rain"),
    ]


def test_next_preset_without_presets_says_how_to_make_one() -> None:
    reply = refused(player.initial_state(CTX), {"action": "next_preset"})
    assert "ctl preset save NAME" in reply["error"]


def test_the_knob_push_plays_the_next_preset_when_stopped_and_stops_when_playing() -> None:
    state = player.initial_state(CTX_WITH_CONFIG)
    push = {"action": "preset_toggle"}
    playing = ok(state, push, ctx=CTX_WITH_CONFIG).state
    assert playing.state is State.PLAYING and playing.preset == "deep"
    assert ok(playing, push, ctx=CTX_WITH_CONFIG).state.state is State.FADING_OUT


def test_the_knob_push_is_a_plain_toggle_without_presets() -> None:
    outcome = ok(player.initial_state(CTX), {"action": "preset_toggle"})
    assert outcome.state.state is State.PLAYING
    assert outcome.state.sound == "pink-noise"
    assert "preset" not in outcome.reply


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("Rainy Night", "rainy-night"),
        ("rainy_night", "rainy-night"),
        ("-rain", "rain"),
        ("rain--night", "rain-night"),
        ("x" * 33, None),
        ("pluie-été", "pluie-ete"),
    ],
)
def test_bad_names_are_refused_with_a_valid_suggestion(name: str, wanted: str | None) -> None:
    reply = refused(player.initial_state(CTX), {"preset_save": name})
    assert reply["field"] == "preset_save"
    if wanted is not None:
        assert f"e.g. '{wanted}'" in reply["error"]
        favourites.check_name(wanted)  # the suggestion itself is valid
    else:
        assert "too long" in reply["error"]


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"preset": 5}, "preset", "preset name"),
        ({"preset": ""}, "preset", "preset name"),
        ({"preset": None}, "preset", "preset name"),
        ({"preset": ["a"]}, "preset", "preset name"),
        ({"preset_save": "a\x00b"}, "preset_save", "control characters"),
        ({"preset_remove": "x" * 65}, "preset_remove", "too long"),
        ({"preset": "a", "volume": 20}, "volume", "stands alone"),
        ({"preset_save": "a", "preset_remove": "b"}, "preset_remove", "stands alone"),
        ({"preset_save": "a", "action": "play"}, "action", "stands alone"),
        ({"preset_save": "a", "fade": 3}, "fade", "fade only goes with"),
        ({"action": "next_presets"}, "action", "did you mean 'next_preset'"),
    ],
)
def test_malformed_preset_commands_are_refused(raw: dict, field: str, words: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(raw)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_a_preset_command_is_not_a_status_query() -> None:
    assert not parse_command({"preset": "a"}).is_query
    assert parse_command({"preset": "a"}).as_object() == {"preset": "a"}


def test_home_assistant_plain_value_selects_a_preset() -> None:
    assert parse_plain("preset", b"rainy-night\n") == parse_command({"preset": "rainy-night"})


def test_the_file_format_round_trips_and_survives_damage() -> None:
    presets = (("a", Preset("rain:spells=true", volume=30.0, layer="waves", sleep_timer=0.0)),)
    assert favourites.loads(favourites.dumps(presets)) == (presets, [])
    assert favourites.loads(b"\x00garbage")[0] == ()
    assert favourites.loads(b"[1, 2]")[1] == ['not a presets file (no "presets" object)']
    mixed = b'{"presets": {"good": {"sound": "rain"}, "Bad": {"sound": "rain"}, "x": {}}}'
    kept, warnings = favourites.loads(mixed)
    assert [name for name, _ in kept] == ["good"]
    assert len(warnings) == 2 and all("dropped" in w for w in warnings)


def test_config_presets_are_checked_with_clear_errors() -> None:
    from sleepsound.errors import ConfigError

    good = config.parse_toml('[presets.bath]\nsound = "rain"\nvolume = 25\nlayer = "waves"\n')
    assert good.presets == {"bath": Preset("rain", volume=25.0, layer="waves")}
    assert player.PlayerContext.from_config(good, SOUNDS).presets == good.presets
    for text, words in (
        ('[presets."Bath Time"]\nsound = "rain"\n', "is not a preset name"),
        ("[presets.bath]\nvolume = 20\n", "presets.bath: needs sound"),
        ('[presets.bath]\nsound = "rain"\nvolume = 120\n', "presets.bath.volume: must be"),
        ('[presets.bath]\nsound = "rain"\nvolum = 12\n', "did you mean 'volume'"),
        ('[presets.bath]\nsound = "rain"\nsleep_timer = 0.2\n', "presets.bath.sleep_timer"),
        ('[presets.bath]\nsound = "../x"\n', "presets.bath.sound"),
        ("[presets]\nbath = 3\n", "presets.bath: must be a table"),
    ):
        with pytest.raises(ConfigError) as caught:
            config.parse_toml(text)
        assert any(words in p for p in caught.value.problems), (text, caught.value.problems)


def test_gestures_take_the_preset_actions() -> None:
    controls = config.defaults().section("controls")
    assert controls.encoder.button.single == {"action": "preset_toggle"}
    assert controls.buttons[0].single == {"action": "toggle"}  # the main button is unchanged
    text = (
        "[controls.encoder.button]\nhold_time_s = 2\n"
        '[[controls.buttons]]\npin = 23\ndouble = { action = "next_preset" }\n'
    )
    bound = config.parse_toml(text).section("controls")
    assert bound.encoder.button.single == {"action": "preset_toggle"}  # still the default
    assert bound.buttons[0].double == {"action": "next_preset"}
    assert parse_command(bound.buttons[0].double).action == "next_preset"


def test_saving_during_the_final_fade_is_a_touch_that_wakes() -> None:
    state = ok(player.initial_state(CTX), {"action": "play", "sleep_timer": 20}).state
    fading = player.tick(state, player.next_deadline(state), CTX).state
    assert fading.state is State.SLEEP_FADING
    outcome = ok(fading, {"preset_save": "late"}, now=player.next_deadline(state) + 1)
    assert outcome.state.state is State.PLAYING  # the sound comes back, the timer restarts
    (presets,) = stored(outcome)
    assert presets[0][1].sleep_timer == 20


def test_a_preset_keeps_a_built_in_sounds_parameters() -> None:
    spelled = replace(CTX, presets={"spells": Preset("rain:spells=true", layer="waves")})
    outcome = ok(player.initial_state(spelled), {"preset": "spells"}, ctx=spelled)
    assert outcome.state.sound == "rain:spells=true"
    (scene,) = [e.scene for e in outcome.effects if isinstance(e, player.SetScene)]
    assert scene.sound == "rain:spells=true" and scene.layer.sound == "waves"
