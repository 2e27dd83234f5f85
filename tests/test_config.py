"""The configuration: lookup order, every error at once with its key path, the example."""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
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


def test_a_users_own_config_is_found_before_the_system_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / ".config" / "sleepsound" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[audio]\nvolume = 12\n")
    loaded = config.load_config(None, {"HOME": str(home)})
    assert (loaded.audio.volume, loaded.path) == (12, str(user))
    xdg = tmp_path / "xdg"
    (xdg / "sleepsound").mkdir(parents=True)
    (xdg / "sleepsound" / "config.toml").write_text("[audio]\nvolume = 13\n")
    assert (
        config.load_config(None, {"HOME": str(home), "XDG_CONFIG_HOME": str(xdg)}).audio.volume
        == 13
    )
    # The variable and the option still come first.
    environ = {"HOME": str(home), config.ENV_VAR: str(tmp_path / "env.toml")}
    (tmp_path / "env.toml").write_text("[audio]\nvolume = 14\n")
    assert config.load_config(None, environ).audio.volume == 14


def test_a_missing_user_config_falls_through_to_the_system_one() -> None:
    environ = {"HOME": "/nonexistent-home"}
    exists = {config.DEFAULT_PATH: True}.get
    assert resolve_config_path(None, environ, lambda p: bool(exists(p))) == config.DEFAULT_PATH


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "folder", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = kind
    if kind == "folder":
        path = str(tmp_path)
    elif kind == "fifo":
        path = str(tmp_path / "config.toml")
        os.mkfifo(path)  # no writer: a blocking open would hang for good
    with pytest.raises(ConfigError) as caught:
        config.load_config(path, {})
    assert "not a regular file" in caught.value.problems[0]


@pytest.mark.parametrize("size", [config.MAX_CONFIG_BYTES + 1, 8 * config.MAX_CONFIG_BYTES])
def test_a_huge_config_file_is_refused_unread(tmp_path: Path, size: int) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"# " + b"x" * (size - 3) + b"\n")
    with pytest.raises(ConfigError) as caught:
        config.load_config(str(path), {})
    assert "larger than 1024 KiB" in caught.value.problems[0]


def test_a_config_just_under_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = "[audio]\nvolume = 12\n"
    path.write_text(text + "#" * (config.MAX_CONFIG_BYTES - len(text) - 1) + "\n")
    assert config.load_config(str(path), {}).audio.volume == 12


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
            "audio.max_volume: must be a number from 1 to 100, not 150",
            "audio.voluem: unknown key (did you mean 'volume'?)",
            'audio.output: must be one of "alsa" or "clock", not "pulse"',
            "audio.rate: must be a whole number from 8000 to 192000, not 44100.5",
            "audio.fade_in_s: nan is not a finite number",
            "sleep.presets_min: [15, 15] lists a value twice; give each value once",
            "sleep.fade_min: must be a number of minutes from 0 to 720, not -1",
            "sounds.default: \"../etc/passwd\" is not a sound id such as 'rain'",
            'mqtt.port: must be a whole number from 1 to 65535, not "1883"',
            "[audoi]: unknown section (did you mean [audio]?)",
        ]
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("timer_min = 1e-300", "sleep.timer_min: 1e-300 is below 1 minute"),
        ("timer_min = 0.5", "sleep.timer_min: 0.5 is below 1 minute"),
        (
            "presets_min = [15, 0.5]",
            "sleep.presets_min[1]: must be a number of minutes from 1 to 720, not 0.5",
        ),
        (
            "presets_min = [1e-300]",
            "sleep.presets_min[0]: must be a number of minutes from 1 to 720, not 1e-300",
        ),
    ],
)
def test_timers_below_a_minute_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_toml(f"[sleep]\n{text}\n")
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_timers_of_zero_or_a_minute_are_fine() -> None:
    assert parse_toml("[sleep]\ntimer_min = 0\npresets_min = [1, 2]\n").sleep.timer_min == 0
    assert parse_toml("[sleep]\ntimer_min = 1\n").sleep.timer_min == 1


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


# Every kind of key, worded for people: the type, the unit its name promises, the range.
WORDED = [
    (
        "[audio]\nfade_in_s = 'slow'\n",
        'audio.fade_in_s: must be a number of seconds from 0 to 600, not "slow"',
    ),
    (
        "[sleep]\ntimer_min = 'long'\n",
        'sleep.timer_min: must be a number of minutes from 0 to 720, not "long"',
    ),
    (
        "[sounds]\nloudness_lufs = 3\n",
        "sounds.loudness_lufs: must be a number of LUFS from -40 to -10, not 3",
    ),
    ("[audio]\nchannels = 2.5\n", "audio.channels: must be a whole number from 1 to 8, not 2.5"),
    ("[audio]\nvolume = true\n", "audio.volume: must be a number from 0 to 100, not true"),
    ("[audio]\ndevice = 5\n", "audio.device: must be text in quotes, not 5"),
    (
        "[sounds]\nnon_repeating = 'yes'\n",
        'sounds.non_repeating: must be true or false (without quotes), not "yes"',
    ),
    (
        "[audio]\nformat = 'S8'\n",
        'audio.format: must be one of "auto", "S16_LE" or "S32_LE", not "S8"',
    ),
    ("[sounds]\ndir = ''\n", "sounds.dir: must not be empty"),
    (
        "[sleep]\npresets_min = ['a']\n",
        'sleep.presets_min[0]: must be a number of minutes from 1 to 720, not "a"',
    ),
    (
        "[mqtt]\ngroups = 'up'\n",
        "mqtt.groups: must be a list in brackets, each text in quotes "
        '(a group name of letters, digits, - and _), not "up"',
    ),
    (
        "[mqtt]\nprefix = 'a b'\n",
        "mqtt.prefix: \"a b\" is not a topic such as 'sleepsound' or 'home/sleepsound' "
        "(no spaces, + or #)",
    ),
    (
        "[sounds]\nrotation = 'x'\n",
        'sounds.rotation: "x" is not all, user, builtin, category:<name> or trigger:<name>',
    ),
    (
        "[controls.encoder]\nhalf_step = 1\n",
        "controls.encoder.half_step: must be true or false (without quotes), not 1",
    ),
    (
        "[controls.encoder]\na_pin = 2.5\n",
        "controls.encoder.a_pin: 2.5 is not a pin: a BCM GPIO number such as 23, "
        'or a name such as "GPIO23"',
    ),
    (
        "[led.breathing]\nramp_s = 'x'\n",
        'led.breathing.ramp_s: must be a number of seconds from 0 to 7200, not "x"',
    ),
]


@pytest.mark.parametrize(("text", "expected"), WORDED)
def test_type_errors_are_worded_for_people(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_no_jsonschema_wording_reaches_people_for_any_key_of_any_type() -> None:
    # Values of the wrong kind for every key of every section: the class, not examples.
    whole = config.schema()["properties"]
    tried = 0
    for section, table in whole.items():
        for key, spec in table.get("properties", {}).items():  # [[programs]], [presets]: own tests
            if spec.get("type") == "object":
                continue  # a sub-table: its own keys are tried with the same wording
            for wrong in ("'x'", "5", "true", "{ x = 1 }"):
                try:
                    parse_toml(f"[{section}]\n{key} = {wrong}\n")
                except ConfigError as error:
                    tried += 1
                    for problem in error.problems:
                        assert problem.startswith(f"{section}."), problem
                        for jargon in ("of type", "under any of", "one of [", "does not match"):
                            assert jargon not in problem, problem
    assert tried > 100


def test_a_bad_value_is_not_also_reported_by_a_cross_check() -> None:
    assert problems("[audio]\nvolume = 'loud'\n") == [
        'audio.volume: must be a number from 0 to 100, not "loud"'
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
    assert problems("[led]\npin = 40\n") == ["led.pin: must be a whole number from 0 to 27, not 40"]
    assert parse_toml("").section("audio") == config.AudioConfig()


def test_a_section_spec_can_be_named_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(config.SECTIONS, "lazy", "sleepsound.config:_LAZY_FOR_TEST")
    monkeypatch.setattr(
        config,
        "_LAZY_FOR_TEST",
        config.SectionSpec({"path": {"type": "string"}}, config.SocketConfig),
        raising=False,
    )
    assert parse_toml("[lazy]\npath = '/x'\n").section("lazy").path == "/x"


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_toml("[audio]\nvolume = 200\nmax_volume = 0\n", "/etc/sleepsound/config.toml")
    text = str(caught.value)
    assert text.startswith("2 problem(s) in /etc/sleepsound/config.toml:")
    assert "audio.volume" in text and "audio.max_volume" in text


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        ('"GPIO99"', "buttons[0].pin: GPIO99 is not a valid pin name on the Raspberry Pi's 40-pin"),
        ("28", "buttons[0].pin: 28 is not a valid pin name on the Raspberry Pi's 40-pin header"),
        (
            '"BOARD1"',
            "buttons[0].pin: BOARD1 is not a GPIO pin on the Raspberry Pi's 40-pin header",
        ),
        ('"GPIO17"', "encoder.a_pin: GPIO17 is already used by controls.buttons[0].pin"),
    ],
)
def test_check_config_refuses_a_pin_the_header_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pin: str, words: str
) -> None:
    from sleepsound.cli import main

    path = tmp_path / "pins.toml"
    path.write_text(f"[[controls.buttons]]\npin = {pin}\n")
    assert main(["check-config", "--config", str(path)]) == 78
    err = capsys.readouterr().err
    assert f"controls.{words}" in err
    assert "the daemon still starts" in err
    path.write_text('[[controls.buttons]]\npin = "BOARD16"\n[led]\npin = 26\n')
    assert main(["check-config", "--config", str(path)]) == 0


# -- [socket], once [control] ------------------------------------------------------------------

RENAME = "[control] socket is now [socket] path, so it is not mistaken for [controls] (the pins)"


def test_the_socket_section_sets_the_socket() -> None:
    loaded = parse_toml("[socket]\npath = '/run/x/ctl.sock'\n")
    assert loaded.socket.path == "/run/x/ctl.sock"
    assert loaded.warnings == ()
    assert config.defaults().socket.path is None


@pytest.mark.parametrize(
    "text",
    ["[control]\nsocket = '/run/x/ctl.sock'\n", "control = { socket = '/run/x/ctl.sock' }\n"],
    ids=["table", "inline table"],
)
def test_the_old_control_section_still_works_with_a_warning(text: str) -> None:
    loaded = parse_toml(text)
    assert loaded.socket.path == "/run/x/ctl.sock"
    assert loaded == parse_toml("[socket]\npath = '/run/x/ctl.sock'\n")
    [warning] = loaded.warnings
    assert warning.startswith(f"control.socket: {RENAME}; rename it")


def test_an_empty_old_control_section_also_says_to_rename_it() -> None:
    loaded = parse_toml("[control]\n")
    assert loaded.socket.path is None
    assert loaded.warnings == (
        "control: [control] is now [socket], so it is not mistaken for [controls] (the pins); "
        "rename it (the old name still works for now)",
    )


@pytest.mark.parametrize(
    "text",
    [
        "[control]\nsocket = '/a.sock'\n[socket]\npath = '/b.sock'\n",
        "[socket]\npath = '/b.sock'\n[control]\nsocket = '/b.sock'\n",  # even when equal
        "[control]\n[socket]\n",
    ],
    ids=["different", "equal", "both empty"],
)
def test_both_the_old_and_the_new_section_is_an_error_naming_both(text: str) -> None:
    assert problems(text) == [
        "control: [control] and [socket] are both given; [control] is the old name of "
        "[socket]: keep [socket] and remove [control]"
    ]


OLD_SECTION_MISTAKES = [
    ("[control]\nsocket = ''\n", "control.socket: must not be empty"),
    ("[control]\nsocket = 5\n", "control.socket: must be text in quotes, not 5"),
    ("[control]\nsockets = '/x'\n", "control.sockets: unknown key (did you mean 'socket'?)"),
    ("[control]\npath = '/x'\n", "control.path: unknown key (did you mean [socket] path?)"),
    ("control = '/x'\n", "control: must be a table ([control]), not a string"),
    ("[socket]\nsocket = '/x'\n", "socket.socket: unknown key (did you mean [socket] path?)"),
    ("[socket]\npath = 5\n", "socket.path: must be text in quotes, not 5"),
    ("[audio]\nsocket = '/x'\n", "audio.socket: unknown key (did you mean [socket] path?)"),
    ("[sockt]\n", "[sockt]: unknown section (did you mean [socket]?)"),
]


@pytest.mark.parametrize(("text", "expected"), OLD_SECTION_MISTAKES)
def test_mistakes_in_either_name_name_the_key_as_written(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_check_config_passes_the_old_name_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sleepsound.cli import main

    path = tmp_path / "old.toml"
    path.write_text("[control]\nsocket = '/run/x/ctl.sock'\n")
    assert main(["check-config", "--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"sleepsound: warning: control.socket: {RENAME}" in captured.err
    assert captured.out == f"config OK: {path}\n"
    path.write_text("[control]\nsocket = '/a.sock'\n[socket]\npath = '/b.sock'\n")
    assert main(["check-config", "--config", str(path)]) == 78
    assert "[control] and [socket] are both given" in capsys.readouterr().err
