"""The phone page's parts without a daemon: names, hosts, sessions, the sounds folder."""

from __future__ import annotations

import io
import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from library_helpers import material, write
from sleepsound.config import parse_toml
from sleepsound.errors import ConfigError
from sleepsound.web.guard import HostRule, Sessions, cookie_token, host_name_of
from sleepsound.web.uploads import SoundsFolder, UploadError, safe_name


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_upload_names_follow_the_library_slug_rules() -> None:
    assert safe_name("Soft Rain.FLAC") == "soft-rain.flac"
    assert safe_name("../../etc/passwd.wav") == "passwd.wav"
    assert safe_name("C:\\Users\\me\\Café à minuit.mp3") == "cafe-a-minuit.mp3"
    assert safe_name(".flac") == "sound.flac"
    for bad in ("notes.txt", "noext", "song.m4a", "x.flac/"):
        with pytest.raises(UploadError) as refused:
            safe_name(bad)
        assert refused.value.status == 415


def test_hosts_and_origins() -> None:
    rule = HostRule(["sleep.example.lan"], addresses=lambda: {"192.168.1.20", "::1"})
    assert host_name_of("Sleep.Example.LAN:8080") == "sleep.example.lan"
    assert host_name_of("[::1]:8080") == "::1"
    assert rule.allows_host_header("sleep.example.lan:8080")
    assert rule.allows_host_header("192.168.1.20:8080")
    assert rule.allows_host_header("[::1]:8080")
    assert rule.allows_host_header("localhost")
    assert not rule.allows_host_header("192.168.1.21:8080")
    assert not rule.allows_host_header("evil.example")
    assert not rule.allows_host_header(None)
    assert rule.allows_origin(None)
    assert rule.allows_origin("http://192.168.1.20:8080")
    for origin in ("null", "http://evil.example", "ftp://localhost", "http://localhost.evil"):
        assert not rule.allows_origin(origin), origin


def test_a_new_device_address_is_learnt_but_not_on_every_request() -> None:
    clock, calls = Clock(), []

    def addresses() -> set[str]:
        calls.append(clock.now)
        return {"10.0.0.5"} if clock.now > 1100 else {"10.0.0.4"}

    rule = HostRule(addresses=addresses, clock=clock)
    assert not rule.allows("10.0.0.5")
    assert len(calls) == 1  # not looked up again at once (a flood of bad Hosts costs nothing)
    clock.now = 1200
    assert rule.allows("10.0.0.5")


def test_sessions_logins_and_the_limit() -> None:
    clock = Clock()
    sessions = Sessions("s3cret", clock)
    assert sessions.login("a", "wrong") is None
    token = sessions.login("a", "s3cret")
    assert token and sessions.valid(token) and not sessions.valid("forged")
    assert cookie_token(f"x=1; sleepsound_session={token}") == token
    for _ in range(5):
        assert sessions.login("b", "nope") is None
    assert sessions.wait_s("b") > 0 and sessions.wait_s("a") == 0
    clock.now += 61
    assert sessions.wait_s("b") == 0
    sessions.logout(token)
    assert not sessions.valid(token)
    late = sessions.login("a", "s3cret")
    clock.now += 31 * 24 * 3600
    assert not sessions.valid(late)


def _flac(folder: Path) -> bytes:
    return write(folder / "source.flac", 0.1 * material(2, 48000), 48000).read_bytes()


def test_an_upload_that_stops_early_leaves_nothing(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    data = _flac(tmp_path)
    with pytest.raises(UploadError) as refused:
        SoundsFolder(sounds, 10**7, 10).save("cut.flac", len(data), io.BytesIO(data[:1000]))
    assert refused.value.status == 400
    assert os.listdir(sounds) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs as the sounds folder (root only; skipped elsewhere)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_a_clear_error_and_no_half_file(small_disk: Path, tmp_path: Path) -> None:
    data = write(tmp_path / "big.wav", 0.1 * material(8, 48000), 48000).read_bytes()
    assert len(data) > 1_100_000
    with pytest.raises(UploadError) as refused:
        SoundsFolder(small_disk, 10**8, 10).save("big.wav", len(data), io.BytesIO(data))
    assert refused.value.status == 507 and "disk is full" in refused.value.message
    assert os.listdir(small_disk) == []


def test_the_web_section_names_its_mistakes() -> None:
    loaded = parse_toml('[web]\nlisten = "[::]:8081"\nallowed_hosts = ["sleep.lan"]\n')
    web = loaded.section("web")
    assert web.listen == "[::]:8081" and web.allowed_hosts == ("sleep.lan",)
    assert web.enabled and web.password_file is None and web.max_files == 500
    with pytest.raises(ConfigError) as refused:
        parse_toml('[web]\nlisten = "0.0.0.0:99999"\nallowed_hosts = ["bad host"]\nlistne = 1\n')
    text = "\n".join(refused.value.problems)
    assert "web.listen: port 99999" in text
    assert 'web.allowed_hosts[0]: "bad host" is not a host name' in text
    assert "web.listne: unknown key (did you mean 'listen'?)" in text


def test_the_sidecar_editor_keeps_other_keys_and_refuses_bad_fields(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    sound = write(sounds / "brook.flac", 0.1 * material(1, 48000), 48000)
    (sounds / "brook.toml").write_text('author = "Ana"\ntitle = "Old"\n')
    folder = SoundsFolder(sounds, 10**7, 10)
    folder.edit(sound, {"title": 'Brook "at night"', "triggers": ["water"]})
    text = (sounds / "brook.toml").read_text()
    assert 'author = "Ana"' in text and "water" in text
    assert tomllib.loads(text)["title"] == 'Brook "at night"'
    for bad in ({"triggers": "water"}, {"category": "Not OK"}, {"path": "/etc/passwd"}):
        with pytest.raises(UploadError) as refused:
            folder.edit(sound, bad)
        assert refused.value.status == 400, bad
    assert tomllib.loads((sounds / "brook.toml").read_text())["triggers"] == ["water"]
    assert sorted(os.listdir(sounds)) == ["brook.flac", "brook.toml"]


@pytest.mark.parametrize(
    ("given", "title"),
    [
        ("Soft_Rain.flac", "Soft Rain"),
        ("a\x00b.wav", "ab"),
        ("\ufffd\ufffd.wav", ""),
        ("bell\u202e.wav", "bell"),  # a right-to-left override would flip the list's text
        ("x" * 5000 + ".wav", "x" * 200),
        ("C:\\Users\\me\\night\tsea.mp3", "night sea"),
    ],
)
def test_an_uploaded_name_makes_a_readable_title(given: str, title: str) -> None:
    from sleepsound.web.uploads import upload_title

    assert upload_title(given) == title
