"""The configuration: lookup order, every error at once with its key path, the example."""

from __future__ import annotations

import dataclasses
import importlib.resources
import tomllib
from pathlib import Path

import pytest

from sleepsound import config
from sleepsound.config import parse_toml, resolve_config_path
from sleepsound.errors import ConfigError

EXAMPLE = importlib.resources.files("sleepsound").joinpath("data/config.example.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_toml(text, "test.toml")
    assert caught.value.path == "test.toml"
    return caught.value.problems


# -- lookup -----------------------------------------------------------------------------------

LOOKUP = [
    # (--config, $SLEEPSOUND_CONFIG, /etc file exists, expected)
    ("/a.toml", "/b.toml", True, "/a.toml"),
    ("/a.toml", None, False, "/a.toml"),
    (None, "/b.toml", True, "/b.toml"),
    (None, "/b.toml", False, "/b.toml"),
    (None, "", True, config.DEFAULT_PATH),
    (None, None, True, config.DEFAULT_PATH),
    (None, None, False, None),
]


@pytest.mark.parametrize(("cli", "env", "etc", "expected"), LOOKUP)
def test_lookup_order(cli: str | None, env: str | None, etc: bool, expected: str | None) -> None:
    environ = {} if env is None else {config.ENV_VAR: env}
    exists = {config.DEFAULT_PATH: etc}.get
    assert resolve_config_path(cli, environ, lambda p: bool(exists(p))) == expected


def test_load_reads_the_chosen_file(tmp_path: Path) -> None:
    cli = tmp_path / "cli.toml"
    env = tmp_path / "env.toml"
    cli.write_text("[audio]\nvolume = 11\n")
    env.write_text("[audio]\nvolume = 22\n")
    environ = {config.ENV_VAR: str(env)}
    assert config.load_config(str(cli), environ).audio.volume == 11
    loaded = config.load_config(None, environ)
    assert loaded.audio.volume == 22 and loaded.path == str(env)


def test_load_without_any_file_gives_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "DEFAULT_PATH", "/nonexistent/sleepsound.toml")
    assert config.load_config(None, {}) == config.defaults()


def test_an_explicit_path_must_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    for cli, environ in [(missing, {}), (None, {config.ENV_VAR: missing})]:
        with pytest.raises(ConfigError) as caught:
            config.load_config(cli, environ)
        assert caught.value.path == missing
        assert "No such file" in caught.value.problems[0]


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[audio]\nvolume = = 3\n")
    with pytest.raises(ConfigError) as caught:
        config.load_config(str(path), {})
    assert "line 2" in caught.value.problems[0]
    assert str(path) in str(caught.value)


# -- checking -----------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_key_path() -> None:
    found = problems(
        """
volume = 3
[audio]
max_volume = 150
voluem = 20
output = "pulse"
rate = 44100.5
fade_in_s = nan
[sleep]
presets_min = [15, 15]
fade_min = -1
[sounds]
default = "../etc/passwd"
[mqtt]
port = "1883"
[audoi]
x = 1
"""
    )
    assert sorted(found) == sorted(
        [
            "volume: keys belong in a section (did you mean [audio] volume?)",
            "audio.max_volume: 150 is greater than the maximum of 100",
            "audio.voluem: unknown key (did you mean 'volume'?)",
            "audio.output: 'pulse' is not one of ['alsa', 'clock']",
            "audio.rate: 44100.5 is not of type 'integer'",
            "audio.fade_in_s: nan is not a finite number",
            "sleep.presets_min: [15, 15] has non-unique elements",
            "sleep.fade_min: -1 is less than the minimum of 0",
            "sounds.default: '../etc/passwd' is not a sound id such as 'rain'",
            "mqtt.port: '1883' is not of type 'integer'",
            "[audoi]: unknown section (did you mean [audio]?)",
        ]
    )


DID_YOU_MEAN = [
    ("[sleep]\ntimer_mins = 3\n", "sleep.timer_mins: unknown key (did you mean 'timer_min'?)"),
    ("[sleep]\nvolume = 3\n", "sleep.volume: unknown key (did you mean [audio] volume?)"),
    ("[mqtt]\nhots = 'x'\n", "mqtt.hots: unknown key (did you mean 'host'?)"),
    ("[state]\nzzz = 1\n", "state.zzz: unknown key; [state] knows file, save_delay_s"),
    ("[slep]\n", "[slep]: unknown section (did you mean [sleep]?)"),
    ("audio = 3\n", "audio: must be a table ([audio]), not a number"),
]


@pytest.mark.parametrize(("text", "expected"), DID_YOU_MEAN)
def test_did_you_mean(text: str, expected: str) -> None:
    assert problems(text) == [expected]


CROSS = [
    ("[audio]\nrecord = '/tmp/x.wav'\n", 'audio.record: only works with output = "clock"'),
]


@pytest.mark.parametrize(("text", "expected"), CROSS)
def test_cross_field_checks(text: str, expected: str) -> None:
    [problem] = problems(text)
    assert problem.startswith(expected)


def test_a_bad_value_is_not_also_reported_by_a_cross_check() -> None:
    assert problems("[audio]\nvolume = 'loud'\n") == [
        "audio.volume: 'loud' is not of type 'number'"
    ]


def test_values_are_typed() -> None:
    loaded = parse_toml(
        """
[audio]
output = "clock"
record = "/tmp/out.wav"
volume = 20
max_volume = 60
rate = 44100
[sleep]
timer_min = 45
presets_min = [90, 20]
[mqtt]
host = "broker.local"
device_id = "bedroom_1"
"""
    )
    assert loaded.audio.record == "/tmp/out.wav"
    assert isinstance(loaded.audio.volume, float) and loaded.audio.volume == 20
    assert isinstance(loaded.audio.rate, int)
    assert loaded.sleep.timer_min == 45.0 and loaded.sleep.presets_min == (90.0, 20.0)
    assert loaded.mqtt.host == "broker.local"
    assert loaded.state == config.StateConfig()


def test_an_empty_file_is_the_defaults() -> None:
    assert parse_toml("") == config.defaults()
    assert config.defaults().audio == config.AudioConfig()  # the dataclass defaults
    assert config.defaults().mqtt == config.MqttConfig()


# -- the shipped example ---------------------------------------------------------------------------


def test_the_example_parses_to_exactly_the_defaults() -> None:
    assert parse_toml(EXAMPLE.read_text(encoding="utf-8")) == config.defaults()


def test_the_example_mentions_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    sections = tomllib.loads(text)
    for name in config.SECTIONS:
        assert f"[{name}]" in text
        for key in config._spec(name).properties:
            # Keys without a default value (record, timer_min) are shown commented out;
            # nested tables by their header.
            assert (
                key in sections[name]
                or f"# {key} = " in text
                or f"[{name}.{key}]" in text
                or f"[[{name}.{key}]]" in text
            ), f"{name}.{key} is not in the example"


def test_every_schema_key_has_a_field_and_every_field_a_key() -> None:
    for name in config.SECTIONS:
        spec = config._spec(name)
        fields = {f.name for f in dataclasses.fields(spec.build)}
        assert fields == set(spec.properties), name


def test_a_section_is_added_in_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class LedConfig:
        pin: int = 12

    spec = config.SectionSpec({"pin": {"type": "integer", "minimum": 0, "maximum": 27}}, LedConfig)
    monkeypatch.setitem(config.SECTIONS, "led", spec)
    assert parse_toml("[led]\npin = 18\n").section("led") == LedConfig(18)
    assert parse_toml("").section("led") == LedConfig(12)
    assert problems("[led]\npin = 40\n") == ["led.pin: 40 is greater than the maximum of 27"]
    assert parse_toml("").section("audio") == config.AudioConfig()


def test_a_section_spec_can_be_named_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(config.SECTIONS, "lazy", "sleepsound.config:_LAZY_FOR_TEST")
    monkeypatch.setattr(
        config,
        "_LAZY_FOR_TEST",
        config.SectionSpec({"socket": {"type": "string"}}, config.ControlConfig),
        raising=False,
    )
    assert parse_toml("[lazy]\nsocket = '/x'\n").section("lazy").socket == "/x"


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_toml("[audio]\nvolume = 200\nmax_volume = 0\n", "/etc/sleepsound/config.toml")
    text = str(caught.value)
    assert text.startswith("2 problem(s) in /etc/sleepsound/config.toml:")
    assert "audio.volume" in text and "audio.max_volume" in text
