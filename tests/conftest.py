"""Fixtures shared by the whole suite: real ALSA capture, real Mosquitto, sound files.

The ALSA test configuration is installed at import time, before any test module can open
ALSA (alsa-lib reads its configuration once per process), and exported so subprocesses
(e.g. ``sleepsound run`` started by a test) see the same devices.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from support.alsa import AlsaCapture, use_test_alsa_config
from support.audio import make_corrupt_files
from support.broker import MosquittoBroker, MqttProbe, TlsFiles, make_tls_files
from support.clocked_alsa import PulseClock, missing_tools
from support.encoders import Mp3Case, make_mp3_matrix

_ALSA_DIR = Path(tempfile.mkdtemp(prefix="sleepsound-alsa-"))
atexit.register(shutil.rmtree, _ALSA_DIR, ignore_errors=True)
ASOUNDRC = use_test_alsa_config(_ALSA_DIR)


@pytest.fixture
def alsa_capture(tmp_path: Path) -> AlsaCapture:
    """A capture file of this test's own: play to ``.device``, then ``.read(channels)``."""
    return AlsaCapture(tmp_path / "alsa-capture.raw")


@pytest.fixture
def make_alsa_capture(tmp_path: Path) -> Callable[[str], AlsaCapture]:
    """Factory for more captures in one test: ``make_alsa_capture("headphones")``."""

    def make(name: str) -> AlsaCapture:
        return AlsaCapture(tmp_path / f"alsa-capture-{name}.raw")

    return make


@pytest.fixture
def pulse_clock(tmp_path: Path) -> Iterator[PulseClock]:
    """A private PulseAudio server with a clocked null sink, stopped after the test."""
    missing = missing_tools()
    if missing:
        pytest.skip(
            f"needs the Debian packages {', '.join(missing)} "
            "(./scripts/setup installs them, except on a Raspberry Pi)"
        )
    clock = PulseClock(tmp_path / "pulse").start()
    try:
        yield clock
    finally:
        clock.stop()


@pytest.fixture
def pulse_env(pulse_clock: PulseClock, monkeypatch: pytest.MonkeyPatch) -> PulseClock:
    """Point this process's ALSA ``pulse`` plugin at the private server.

    alsa-lib evaluates the pulseaudio package's hook (``/etc/alsa/conf.d/99-pulse.conf``)
    when it loads its configuration: with a server reachable through ``PULSE_SERVER`` at
    that moment, ``default`` would become PulseAudio for the rest of the test session.
    Loading the configuration first (listing the PCMs does) keeps ``default`` as it was.
    """
    import alsaaudio  # only the tests that need a pulse clock load pyalsaaudio

    alsaaudio.pcms()
    for key, value in pulse_clock.client_env.items():
        monkeypatch.setenv(key, value)
    return pulse_clock


@pytest.fixture
def corrupt_files(tmp_path: Path) -> dict[str, Path]:
    """Broken sound files by kind: truncated_wav, garbage_flac, empty_wav, text_wav."""
    return make_corrupt_files(tmp_path / "corrupt")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA with server (127.0.0.1, localhost) and client certificates."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mosquitto(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., MosquittoBroker]]:
    """Factory starting real brokers on free ports; all are stopped after the test.

    ``mosquitto()`` is an anonymous plain-TCP broker. Options: ``tls=True`` (the listener
    speaks TLS only; clients verify it with ``broker.tls.ca_file``), ``require_client_cert``,
    ``users={"name": "password"}`` (turns anonymous access off unless
    ``allow_anonymous=True``), ``acl="user name\\ntopic readwrite x/#\\n"``, ``extra_config``.
    The broker has ``host``, ``port``, ``stop()``, ``start()`` (same port), ``log()`` and
    ``client(...)`` (a paho VERSION2 client set up for it).
    """
    brokers: list[MosquittoBroker] = []

    def start(
        *,
        tls: bool = False,
        require_client_cert: bool = False,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        acl: str | None = None,
        extra_config: str = "",
    ) -> MosquittoBroker:
        broker = MosquittoBroker(
            directory=tmp_path_factory.mktemp("mosquitto"),
            # Certificates are made once per session, and only if some test wants TLS.
            tls=request.getfixturevalue("tls_files") if tls else None,
            require_client_cert=require_client_cert,
            users=dict(users or {}),
            allow_anonymous=(not users) if allow_anonymous is None else allow_anonymous,
            acl=acl,
            extra_config=extra_config,
        )
        brokers.append(broker)
        return broker.start()

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mqtt_probe() -> Iterator[Callable[..., MqttProbe]]:
    """Factory for connected test clients: ``probe = mqtt_probe(broker)``, then
    ``probe.subscribe("t/#")``, ``probe.publish(...)``, ``probe.wait_for("t/x")``.
    Keyword options (``client_id``, ``username``, ``password``, ``client_cert``) go to
    ``broker.client``. All are disconnected after the test.
    """
    probes: list[MqttProbe] = []

    def connect(broker: MosquittoBroker, **options: object) -> MqttProbe:
        probe = MqttProbe(broker, **options)
        probes.append(probe)
        return probe.connect()

    yield connect
    for probe in probes:
        probe.disconnect()


@pytest.fixture(scope="session")
def real_mp3s(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Mp3Case]:
    """MP3s from lame, sox and ffmpeg (see support.encoders), encoded once per session."""
    return make_mp3_matrix(tmp_path_factory.mktemp("mp3-matrix"))


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Factory of real daemons in ``tmp_path`` (``make_daemon(extra_config="", ...)``, see
    ``daemon_helpers.daemons_in``); every one is stopped afterwards. Modules whose daemons
    need more (a broker, sounds) define their own ``make_daemon``."""
    from daemon_helpers import daemons_in  # the daemon's imports only where daemons run

    with daemons_in(tmp_path) as make:
        yield make
