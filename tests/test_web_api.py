"""The phone page's API against a real daemon (clock output) over real HTTP."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in, wait_until, warm_loudness_cache
from support.broker import free_port
from web_helpers import command, flac_bytes, http, listed_ids, serving, upload

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One daemon for the module, its page on its own port, uploads capped at 1 MB and
    at 4 sound files."""
    warm_loudness_cache("pink-noise")
    with daemons_in(tmp_path_factory.mktemp("web")) as make:
        port = free_port()
        made = make(f'[web]\nlisten = "127.0.0.1:{port}"\nmax_upload_mb = 1\nmax_files = 4\n')
        made.web_port = port
        (made.directory / "sounds").mkdir()
        made.start()
        wait_until(lambda: serving(port), "the page to serve")
        yield made


def _folder(daemon: DaemonProcess) -> list[str]:
    """Everything in the sounds folder, hidden files included."""
    return sorted(os.listdir(daemon.directory / "sounds"))


def test_the_state_is_the_status_document(daemon: DaemonProcess) -> None:
    assert http(daemon.web_port, "GET", "/api/state").json() == daemon.status()


def test_a_command_changes_the_device_and_gets_the_sockets_reply(daemon: DaemonProcess) -> None:
    answer = command(daemon.web_port, {"action": "play", "volume": 22, "transaction": "t1"})
    assert answer.status == 200
    assert answer.json() == {"status": "ok", "transaction": "t1"}
    wait_until(lambda: daemon.status()["state"] == "playing", "the daemon to play")
    assert daemon.status()["volume"] == 22
    for bad in ({"volume": "loud"}, {"actoin": "play"}, {"action": "status", "transaction": 7}):
        over_web = command(daemon.web_port, bad).json()
        assert over_web == daemon.request(bad), bad
    assert (
        http(
            daemon.web_port,
            "POST",
            "/api/command",
            "{not json",
            {"Content-Type": "application/json"},
        ).json()["status"]
        == "error"
    )
    command(daemon.web_port, {"action": "stop"})


def test_the_event_stream_follows_changes_made_elsewhere(daemon: DaemonProcess) -> None:
    with socket.create_connection(("127.0.0.1", daemon.web_port), timeout=30) as conn:
        conn.sendall(
            f"GET /api/events HTTP/1.1\r\nHost: localhost:{daemon.web_port}\r\n\r\n".encode()
        )
        reader = conn.makefile("rb")
        assert b"200" in reader.readline()

        def next_state() -> dict:
            while True:
                line = reader.readline()
                assert line, "the stream ended"
                if line.startswith(b"data: ") and b'"state"' in line:
                    return json.loads(line[6:])

        first = next_state()
        target = 17 if first["volume"] != 17 else 18
        assert daemon.ctl("volume", str(target))[0] == 0
        while (doc := next_state())["volume"] != target:
            pass
        assert doc == daemon.status()


def test_the_sounds_listing_gives_titles_categories_and_triggers(daemon: DaemonProcess) -> None:
    rows = {row["id"]: row for row in http(daemon.web_port, "GET", "/api/sounds").json()["sounds"]}
    assert rows["rain"]["title"] and rows["rain"]["category"]
    assert "whispering" in rows["whispers"]["triggers"]
    assert "pink-noise" in rows and not rows["pink-noise"]["editable"]
    assert all("path" not in row for row in rows.values())


def test_an_uploaded_flac_joins_the_library_and_plays(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    answer = upload(daemon.web_port, "Night%20Rain.flac", flac_bytes(tmp_path))
    assert answer.status == 201, answer.body
    assert answer.json()["id"] == "night-rain"
    # The name given stays the title, in a sidecar written before the sound appeared.
    assert _folder(daemon) == ["night-rain.flac", "night-rain.toml"]
    wait_until(lambda: "night-rain" in listed_ids(daemon.web_port), "the upload to be listed")
    rows = http(daemon.web_port, "GET", "/api/sounds").json()["sounds"]
    assert next(r for r in rows if r["id"] == "night-rain")["title"] == "Night Rain"
    assert command(daemon.web_port, {"sound": "night-rain", "action": "play"}).status == 200
    wait_until(lambda: daemon.status()["sound"] == "night-rain", "the upload to play")
    assert daemon.status()["state"] == "playing"
    command(daemon.web_port, {"action": "stop"})
    # The same name again: refused, the first one kept.
    assert upload(daemon.web_port, "night rain.flac", flac_bytes(tmp_path)).status == 409


def test_a_text_file_named_mp3_is_refused_and_leaves_nothing(daemon: DaemonProcess) -> None:
    before = _folder(daemon)
    answer = upload(daemon.web_port, "song.mp3", b"this is not audio\n" * 200)
    assert answer.status == 422
    assert "song.mp3" in answer.json()["error"]
    assert _folder(daemon) == before


def test_a_file_over_the_cap_is_refused_before_it_is_read(daemon: DaemonProcess) -> None:
    before = _folder(daemon)
    answer = upload(daemon.web_port, "big.wav", b"\0" * 1_200_000)
    assert answer.status == 413 and "cap" in answer.json()["error"]
    assert _folder(daemon) == before


def test_the_client_never_chooses_the_path(daemon: DaemonProcess, tmp_path: Path) -> None:
    answer = upload(daemon.web_port, "..%2F..%2FEvil%20Name.FLAC", flac_bytes(tmp_path, 2, seed=3))
    assert answer.status == 201, answer.body
    assert "evil-name.flac" in _folder(daemon)
    assert not (daemon.directory / "Evil Name.FLAC").exists()
    # A symlink planted under the name an upload would take is never written through.
    target = tmp_path / "outside.flac"
    target.write_bytes(b"keep")
    (daemon.directory / "sounds" / "planted.flac").symlink_to(target)
    assert upload(daemon.web_port, "planted.flac", flac_bytes(tmp_path, 2, seed=4)).status == 409
    assert target.read_bytes() == b"keep"
    (daemon.directory / "sounds" / "planted.flac").unlink()
    assert upload(daemon.web_port, "notes.txt", b"hello").status == 415


def test_the_file_count_is_capped(daemon: DaemonProcess, tmp_path: Path) -> None:
    while len([n for n in _folder(daemon) if n.endswith(".flac")]) < 4:
        upload(daemon.web_port, f"filler {len(_folder(daemon))}.flac", flac_bytes(tmp_path, 1))
    answer = upload(daemon.web_port, "one more.flac", flac_bytes(tmp_path, 1, seed=9))
    assert answer.status == 507 and "delete some" in answer.json()["error"]
    assert "one-more.flac" not in _folder(daemon)


def test_the_sidecar_editor_and_delete(daemon: DaemonProcess, tmp_path: Path) -> None:
    wait_until(lambda: "evil-name" in listed_ids(daemon.web_port), "the upload to be listed")
    meta = {"title": "Rain on the tin roof", "category": "rain", "triggers": ["rain", "tapping"]}
    answer = http(daemon.web_port, "POST", "/api/sounds/evil-name/meta", meta)
    assert answer.status == 200, answer.body

    def row() -> dict:
        rows = http(daemon.web_port, "GET", "/api/sounds").json()["sounds"]
        return next(r for r in rows if r["id"] == "evil-name")

    wait_until(lambda: row()["title"] == meta["title"], "the new title")
    assert row()["category"] == "rain" and row()["triggers"] == ["rain", "tapping"]
    bad = http(daemon.web_port, "POST", "/api/sounds/evil-name/meta", {"triggers": ["loud"]})
    assert bad.status == 400 and "loud" in bad.json()["error"]
    built_in = http(daemon.web_port, "POST", "/api/sounds/rain/delete", {})
    assert built_in.status == 403
    assert http(daemon.web_port, "POST", "/api/sounds/evil-name/delete", {}).status == 200
    assert "evil-name.flac" not in _folder(daemon) and "evil-name.toml" not in _folder(daemon)
    wait_until(lambda: "evil-name" not in listed_ids(daemon.web_port), "the sound to go")


def test_the_device_panel_facts(daemon: DaemonProcess) -> None:
    facts = http(daemon.web_port, "GET", "/api/device").json()
    assert facts["version"] and facts["uptime_s"] >= 0
    assert facts["mqtt"] == {"configured": False, "broker": None, "connected": None}
    assert facts["disk"]["free_bytes"] > 0


def test_the_page_and_its_files_are_served_small(daemon: DaemonProcess) -> None:
    page = http(daemon.web_port, "GET", "/")
    assert page.status == 200 and b"<title>Sleepsound</title>" in page.body
    total = len(page.body)
    for name in ("/app.js", "/style.css", "/manifest.webmanifest", "/icon.svg"):
        answer = http(daemon.web_port, "GET", name)
        assert answer.status == 200, name
        total += len(answer.body)
    assert total < 150_000
    assert http(daemon.web_port, "GET", "/../config.toml").status == 404
