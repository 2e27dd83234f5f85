"""Named outputs as config and as pure decisions: the tables, their checks and default
ceilings, what a switch means for the player, and the saved choice."""

from __future__ import annotations

import pytest

from sleepsound import output_switch, player, saved_state
from sleepsound.commands import parse_command
from sleepsound.config import parse_toml
from sleepsound.errors import CommandError, ConfigError
from sleepsound.output_table import SPEAKER_CEILING, WORN_CEILING
from sleepsound.player import PlayerContext, State
from sleepsound.saved_state import SavedState

HOUSE = """
[audio]
output_default = "pillow"
[outputs.pillow]
device = "plughw:CARD=Device"
channels = 1
volume = 35
[outputs.headphones]
device = "plughw:CARD=Headphones"
worn = true
range_db = 60
[outputs.headband]
kind = "bluetooth"
device = "bluealsa:DEV=00:11:22:33:44:55,PROFILE=a2dp"
on_disconnect = "switch:pillow"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_toml(text)
    return list(caught.value.problems)


# -- config ------------------------------------------------------------------------------------


def test_without_tables_the_audio_keys_are_one_output_called_default() -> None:
    table = parse_toml('[audio]\ndevice = "hw:X"\nchannels = 1\nmax_volume = 70\n').named_outputs()
    assert table.names == ("default",) and table.default == "default"
    (only,) = table.outputs
    assert (only.kind, only.device, only.channels, only.max_volume) == ("alsa", "hw:X", 1, 70)


def test_worn_outputs_get_a_lower_default_ceiling_than_speakers() -> None:
    table = parse_toml(HOUSE).named_outputs()
    assert table.default == "pillow"
    ceilings = {o.name: o.max_volume for o in table.outputs}
    assert ceilings == {"pillow": SPEAKER_CEILING, "headphones": WORN_CEILING, "headband": 60}
    assert WORN_CEILING < SPEAKER_CEILING
    assert table.find("headphones").range_db == 60 and table.find("pillow").range_db == 50


def test_the_house_ceiling_bounds_every_output_and_a_lower_one_always_applies() -> None:
    text = HOUSE.replace("[audio]\n", "[audio]\nmax_volume = 50\n") + "max_volume = 90\n"
    table = parse_toml(text).named_outputs()
    assert {o.max_volume for o in table.outputs} == {50}  # 90 asked for the headband: 50


def test_a_gesture_may_be_bound_to_an_output_or_to_the_next_one() -> None:
    text = HOUSE + (
        "[[controls.buttons]]\nname = 'main'\npin = 23\n"
        "double = { output = 'headphones' }\nlong = { action = 'next_output' }\n"
    )
    button = parse_toml(text).section("controls").buttons[0]
    assert parse_command(button.double).output == "headphones"
    assert parse_command(button.long).action == "next_output"


def test_the_default_output_is_the_first_table_when_none_is_named() -> None:
    text = HOUSE.replace('output_default = "pillow"\n', "")
    assert parse_toml(text).named_outputs().default == "pillow"


def test_a_start_volume_above_the_ceiling_is_a_warning_not_a_refusal() -> None:
    config = parse_toml(HOUSE.replace("worn = true\n", "worn = true\nvolume = 75\n"))
    assert any("outputs.headphones.volume: 75 is above" in w for w in config.warnings)
    assert config.named_outputs().find("headphones").start_volume == WORN_CEILING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[audio]\noutput_default = "speaker"\n',
            "audio.output_default: no output called 'speaker'; outputs: default",
        ),
        (
            HOUSE.replace('output_default = "pillow"', 'output_default = "pilow"'),
            "audio.output_default: no output called 'pilow'; outputs: pillow, headphones, headband",
        ),
        ("[outputs.a]\nchannels = 3\n", "outputs.a.channels: must be one of 1 or 2, not 3"),
        ("[outputs.a]\nkind = 'usb'\n", 'outputs.a.kind: must be one of "alsa", "bluetooth"'),
        ("[outputs.a]\ndevcie = 'x'\n", "outputs.a.devcie: unknown key (did you mean 'device'?)"),
        ("[outputs.Pillow]\n", 'outputs: "Pillow" is not a name of lower-case letters'),
        ("[outputs.a]\nrecord = 'x.wav'\n", 'outputs.a.record: only works with kind = "clock"'),
        ("[outputs.a]\nkeep_alive = 'tone'\n", 'outputs.a.keep_alive: only for kind = "bluetooth"'),
        (
            "[outputs.a]\nkind = 'bluetooth'\non_disconnect = 'switch:b'\n",
            "outputs.a.on_disconnect: no output called 'b'; outputs: a",
        ),
        (
            "[outputs.a]\nkind = 'bluetooth'\non_disconnect = 'switch:a'\n",
            "outputs.a.on_disconnect: 'switch:a' names this output itself",
        ),
        (
            "[outputs.a]\nkind = 'bluetooth'\non_disconnect = 'pillow'\n",
            'outputs.a.on_disconnect: "pillow" is not "hold" or "switch:NAME"',
        ),
        ("[outputs.a]\nrange_db = 10\n", "outputs.a.range_db: must be a number of decibels"),
        ("[outputs]\ndevice = 'x'\n", "outputs.device: must be a table"),
        (
            HOUSE
            + "[[controls.buttons]]\nname = 'main'\npin = 23\ndouble = { output = 'pilow' }\n",
            "controls.buttons[0].double.output: no output called 'pilow'; outputs: pillow,",
        ),
    ],
)
def test_config_mistakes_name_the_key(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


# -- the switch, pure --------------------------------------------------------------------------


def context(text: str = HOUSE, output: str | None = None) -> PlayerContext:
    return PlayerContext.from_config(parse_toml(text), ("pink-noise", "rain"), output=output)


def switch(state: player.PlayerState, ctx: PlayerContext, raw: dict) -> output_switch.SwitchPlan:
    return output_switch.plan(state, parse_command(raw), 100.0, ctx)


def test_the_context_is_the_outputs_ceiling_channels_and_taper() -> None:
    pillow, headphones = context(), context(output="headphones")
    assert (pillow.output_name, pillow.out_channels, pillow.start_volume) == ("pillow", 1, 35)
    assert (headphones.max_volume, headphones.range_db) == (WORN_CEILING, 60)
    assert context(output="gone").output_name == "pillow"


def test_each_output_remembers_its_volume_and_the_new_one_fades_in() -> None:
    ctx = context()
    state = player.apply(player.initial_state(ctx), parse_command({"action": "play"}), 0, ctx)
    state = player.apply(state.state, parse_command({"volume": 70}), 1, ctx).state
    to_headphones = switch(state, ctx, {"output": "headphones"})
    assert to_headphones.state.volume == 30  # its start-up volume: [audio] volume
    assert to_headphones.ctx.max_volume == WORN_CEILING and to_headphones.fade_s > 0
    assert to_headphones.scene.volume == 30 and to_headphones.scene.range_db == 60
    assert to_headphones.state.state is State.PLAYING
    back = switch(to_headphones.state, to_headphones.ctx, {"action": "next_output"})
    assert back.target.name == "headband"
    again = switch(back.state, back.ctx, {"output": "pillow"})
    assert again.state.volume == 70 and dict(again.state.output_volumes) == {
        "headphones": 30,
        "headband": 30,
    }
    assert switch(again.state, again.ctx, {"action": "next_output"}).target.name == "headphones"


def test_a_remembered_volume_above_a_lowered_ceiling_is_clamped_with_a_warning() -> None:
    ctx = context(output="headphones")
    state = player.replace(player.initial_state(ctx), output_volumes=(("pillow", 90.0),))
    plan = switch(state, ctx, {"output": "pillow"})
    assert plan.state.volume == SPEAKER_CEILING
    assert any("clamped" in w for w in plan.warnings)


def test_an_unknown_output_is_refused_naming_the_known_ones() -> None:
    ctx = context()
    with pytest.raises(CommandError) as caught:
        switch(player.initial_state(ctx), ctx, {"output": "headfones"})
    assert caught.value.field == "output"
    assert "did you mean 'headphones'" in str(caught.value)
    assert "pillow, headphones, headband" in str(caught.value)


def test_the_output_key_is_checked_and_plain_values_reach_it() -> None:
    with pytest.raises(CommandError):
        parse_command({"output": "../etc"})
    with pytest.raises(CommandError):
        parse_command({"output": 3})
    from sleepsound.commands import parse_plain

    assert parse_plain("output", b"headphones").output == "headphones"
    assert parse_command({"output": "pillow"}).is_query is False


def test_the_rest_of_a_switch_command_applies_after_it() -> None:
    rest = output_switch.rest_of(parse_command({"output": "pillow", "volume": 20}))
    assert rest is not None and rest.volume == 20 and rest.output is None
    assert output_switch.rest_of(parse_command({"action": "next_output"})) is None


# -- saved state -------------------------------------------------------------------------------


def test_the_chosen_output_and_volumes_round_trip_and_bad_ones_are_dropped() -> None:
    saved = SavedState(volume=20, output="headphones", output_volumes=(("pillow", 35.0),))
    assert saved_state.loads(saved_state.dumps(saved)) == (saved, None)
    text = '{"version": 1, "output": "../x", "output_volumes": {"pillow": 300, "a": 5}}'
    loaded, warning = saved_state.loads(text)
    assert loaded.output is None and loaded.output_volumes == (("a", 5.0),)
    assert warning is not None and "output" in warning


def test_start_up_takes_the_saved_outputs_volume_and_remembers_the_rest() -> None:
    ctx = context(output="headphones")
    saved = SavedState(volume=20, output="pillow", output_volumes=(("headphones", 45.0),))
    state = player.initial_state(ctx, saved)
    assert state.output_name == "headphones" and state.volume == 45
    assert dict(state.output_volumes) == {"pillow": 20}
    assert player.saved_view(state).output == "headphones"


# -- a mono output keeps the mono rules --------------------------------------------------------


def test_switching_to_a_mono_output_switches_a_refused_binaural_bed_off() -> None:
    from sleepsound.library.catalog import SoundEntry
    from sleepsound.sources.metadata import SoundMeta

    def entry(sound_id: str, spatial: str) -> SoundEntry:
        meta = SoundMeta(title=sound_id, category="x", spatial=spatial)
        return SoundEntry(id=sound_id, kind="generator", spec=sound_id, meta=meta)

    text = HOUSE.replace("[outputs.pillow]", '[sounds]\nmono_binaural = "refuse"\n[outputs.pillow]')
    ctx = PlayerContext.from_config(
        parse_toml(text),
        ("pink-noise", "binaural-delta"),
        entries={
            "pink-noise": entry("pink-noise", "stereo"),
            "binaural-delta": entry("binaural-delta", "binaural"),
        },
        output="headphones",
    )
    state = player.initial_state(ctx)
    state = player.apply(
        state, parse_command({"action": "play", "layer": "binaural-delta"}), 0, ctx
    )
    assert state.reply == {"status": "ok"} and state.state.layer.on
    plan = switch(state.state, ctx, {"output": "pillow"})
    assert plan.ctx.out_channels == 1 and not plan.state.layer.on and plan.scene.layer is None
    assert any("the layer is off" in w for w in plan.warnings)
    # Back on the stereo headphones, the stereo rules again.
    back = switch(plan.state, plan.ctx, {"output": "headphones"})
    assert back.ctx.out_channels == 2


# -- Bluetooth outputs -------------------------------------------------------------------------


def test_a_bluetooth_device_is_checked_as_a_bluealsa_pcm_name() -> None:
    found = problems("[outputs.headband]\nkind = 'bluetooth'\ndevice = 'bluealsa:DEV=12:34'\n")
    assert len(found) == 1 and found[0].startswith("outputs.headband.device: bluealsa PCM")
    assert "12:34" in found[0]
    # An ALSA output may be named anything ALSA knows.
    assert parse_toml("[outputs.pillow]\ndevice = 'headband'\n").named_outputs()


def test_off_after_timer_without_an_address_warns_that_nothing_can_be_disconnected() -> None:
    text = "[outputs.headband]\nkind = 'bluetooth'\ndevice = 'bluealsa'\noff_after_timer = true\n"
    assert any(
        "off_after_timer: the device names no headband" in w for w in parse_toml(text).warnings
    )


def test_on_disconnect_and_off_after_timer_are_the_playing_outputs() -> None:
    extra = 'off_after_timer = true\nkeep_alive = "tone"\non_disconnect = "switch:pillow"'
    text = HOUSE.replace('on_disconnect = "switch:pillow"', extra)
    headband, pillow = context(text, output="headband"), context(text)
    assert output_switch.on_disconnect(headband) == "pillow"
    assert output_switch.on_disconnect(pillow) is None  # hold: nothing moves by itself
    assert output_switch.disconnect_after_timer(headband) is not None
    assert output_switch.disconnect_after_timer(pillow) is None
    # The keep-alive tone is in every scene of the headband, stopped or playing.
    assert player.scene_for(player.initial_state(headband), headband, 0).keep_alive
    assert not player.scene_for(player.initial_state(pillow), pillow, 0).keep_alive
    to_pillow = switch(player.initial_state(headband), headband, {"output": "pillow"})
    assert not to_pillow.scene.keep_alive and not to_pillow.ctx.keep_alive


def test_a_clock_output_takes_no_on_disconnect() -> None:
    found = problems("[outputs.a]\nkind = 'clock'\non_disconnect = 'hold'\n")
    assert found == ["outputs.a.on_disconnect: a clock output never disconnects; remove it"]


# -- the quietest steps, heard -------------------------------------------------------------------


def test_a_wider_range_puts_volume_1_lower_by_the_difference() -> None:
    import numpy as np

    from sleepsound.engine import Engine
    from sleepsound.scene import Scene
    from sleepsound.sources import open_source
    from support.audio import rms_db

    def level(range_db: float) -> float:
        scene = Scene(sound="binaural-delta", volume=1, max_volume=60, range_db=range_db)
        engine = Engine(48000, 2, open_source, scene)
        try:
            blocks = [engine.render(1024) for _ in range(200)]  # the fade-in, then steady
        finally:
            engine.close()
        return rms_db(np.concatenate(blocks)[-48000:])

    usual, wide = level(50.0), level(60.0)
    assert usual - wide == pytest.approx(9.9, abs=0.3)  # 99 steps of 0.6 dB, not 0.5
    ctx = context(output="headphones")  # range_db = 60 in its table
    assert player.scene_for(player.initial_state(ctx), ctx, 0).range_db == 60


def test_a_switch_during_the_final_fade_starts_the_new_output_where_the_fade_has_got_to() -> None:
    import numpy as np

    from sleepsound.engine import Engine
    from sleepsound.scene import Scene, SleepFade
    from sleepsound.sources import open_source
    from support.audio import rms_db

    ctx = context()
    state = player.initial_state(ctx)
    # A 20-minute timer fades over its last 10 minutes: at 700 s it is 100 s in.
    state = player.apply(state, parse_command({"action": "play", "sleep_timer": 20}), 0, ctx)
    state = player.tick(state.state, 600.0, ctx)
    assert state.state.state is State.SLEEP_FADING
    plan = output_switch.plan(state.state, parse_command({"output": "headband"}), 700.0, ctx)
    assert plan.scene.sleep_fade is not None
    assert plan.scene.sleep_fade.elapsed_s == pytest.approx(100.0)

    def level(fade: SleepFade) -> float:
        scene = Scene(sound="binaural-delta", volume=60, max_volume=60, sleep_fade=fade)
        engine = Engine(48000, 2, open_source, scene)
        try:
            return rms_db(np.concatenate([engine.render(1024) for _ in range(100)])[-24000:])
        finally:
            engine.close()

    # 100 s of a 600 s fade to -inf (linear in dB to -60, then to zero): about 10 dB down.
    top, mid = level(SleepFade(1, 600.0)), level(SleepFade(1, 600.0, elapsed_s=100.0))
    assert top - mid == pytest.approx(10.0, abs=1.0)
