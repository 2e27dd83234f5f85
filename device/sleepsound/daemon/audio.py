"""The audio supervisor: opens the output, runs the audio thread, reports what happens.

What happens when the sound card vanishes, start to end:

- At start-up (and on a reload that reopens the output) :meth:`AudioSupervisor.open`
  opens the output with :func:`sleepsound.outputs.open_output`. A card that is not
  there at all (``DeviceMissingError``) is replaced by the clock output (silence at
  real-time pace, so timers still run) and a warning; the player hears
  :func:`~sleepsound.player.output_opened` with ``problem`` set, so the state
  document says ``output.audible = false`` and why. ``systemctl reload`` opens the
  card again once it is connected. A card that is there but unusable (busy) is
  retried by the audio thread.
- While playing, the audio thread notices a write failure, closes the device and
  retries every couple of seconds with the same scene (:mod:`sleepsound.playback`),
  reporting the error here; this supervisor turns it into a fact on the command
  loop's queue: :class:`OutputFailed` (the player says so once, not at every
  retry: :func:`~sleepsound.player.output_failed`) or :class:`SoundFailed` (a sound
  that cannot play: :func:`~sleepsound.player.playback_failed` stops).
- The health check (:meth:`AudioSupervisor.check`, every few seconds from the loop)
  sees the thread writing again and reports :class:`OutputBack`: the player says
  the sound is heard again (:func:`~sleepsound.player.output_back`).

Switching between named outputs (:meth:`AudioSupervisor.switch`): the new output is
opened first, while the old one still plays, so a device that cannot open is an
error that changes nothing; then the old output fades to silence (the loop hands the
thread a silent scene), is closed with its thread, and a new thread starts on the new
output with the scene fading in. No gap is longer than the two fades.

The supervisor decides nothing about the player's state: it reports facts, and pure
player functions decide what they mean.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sleepsound import outputs
from sleepsound.config import AudioConfig
from sleepsound.engine import SourceFactory
from sleepsound.errors import DeviceMissingError, OutputError, SleepsoundError, SoundError
from sleepsound.output_table import OutputSetting
from sleepsound.outputs.base import Output
from sleepsound.outputs.bluealsa_name import BlueAlsaNameError, parse_bluealsa_pcm
from sleepsound.outputs.bluetooth_link import BluetoothLink
from sleepsound.playback import PlaybackThread
from sleepsound.player import OutputInfo
from sleepsound.scene import Scene

log = logging.getLogger(__name__)

READY_WAIT_S = 3.0
"""How long start-up waits for the audio thread's first block before READY anyway."""


@dataclass(frozen=True)
class SoundFailed:
    """A sound could not play (unreadable file): the player stops and says why."""

    message: str


@dataclass(frozen=True)
class OutputFailed:
    """The output failed; the audio thread retries it with the same scene."""

    message: str


@dataclass(frozen=True)
class OutputBack:
    """The audio thread is writing to the output."""


AudioFact = SoundFailed | OutputFailed | OutputBack


class AudioSupervisor:
    """The output and the audio thread; facts go to ``report`` (the loop's queue)."""

    def __init__(
        self, report: Callable[[AudioFact], None], open_source: Callable[[], SourceFactory]
    ) -> None:
        self._report = report
        # Asked at every open: a reload that reopens the library reaches the thread.
        self._open_source = open_source
        self._audio: AudioConfig | None = None
        self._named: OutputSetting | None = None
        self._first: Output | OutputError | None = None
        self._thread: PlaybackThread | None = None
        self._stalled = False
        self.missing: str | None = None
        """Why the clock stands in for the sound card (``None`` when it does not)."""

    def open(self, audio: AudioConfig, named: OutputSetting) -> OutputInfo:
        """Open the named output (the thread starts with :meth:`start`); a missing
        sound card falls back to the clock. Returns what the state document says."""
        self._audio, self._named = audio, named
        self.missing = None
        try:
            self._first = outputs.open_output(audio, named)
        except DeviceMissingError as error:
            if named.kind == "bluetooth":
                # A headband that is off or away: hold and retry (the thread does), never
                # the clock in its place; it plays when it connects.
                log.warning("%s; waiting for it to connect", error)
                self._first = error
                return _info(named, audible=False)
            self.missing = (
                f"no sound card: {error}. Playing to the clock output (silence) instead; "
                "connect the card, then reload (systemctl reload sleepsound)"
            )
            # Expected on a laptop or a Pi not wired yet, and the daemon carries on:
            # a warning (the state document's output says it is silent), not an error.
            log.warning("%s", self.missing)
            self._first = outputs.open_output(audio, named, clock_instead=True)
            return _info(named, audible=False, problem=self.missing, stand_in=True)
        except OutputError as error:
            # There but unusable right now (busy, odd format): the thread keeps retrying.
            log.error("%s", error)
            self._first = error
            return _info(named, audible=False)
        return _info(named, audible=named.kind != "clock")

    def switch(
        self, named: OutputSetting, scene: Scene, fade_s: float, silence: Callable[[], None]
    ) -> OutputInfo:
        """Move the sound to ``named``: open it, fade the old one out, start on the new one.

        ``silence`` hands the running thread a silent scene (fading over ``fade_s``);
        ``scene`` is what the new output starts with. Raises :class:`OutputError`
        (``DeviceMissingError`` when it is not there) before anything changes when
        the new output cannot open: the sound stays where it was.
        """
        audio = self._audio
        assert audio is not None
        opened = outputs.open_output(audio, named)
        silence()
        if self._thread is not None:
            self._thread.finish(fade_s + 1.0)  # returns once the engine is silent
        self._named, self._first, self.missing = named, opened, None
        self.start(scene)
        log.info("switched to output %s (%s)", named.name, opened.description)
        return _info(named, audible=named.kind != "clock")

    def disconnect_later(self, named: OutputSetting, delay_s: float) -> None:
        """Disconnect ``named`` (a BlueALSA headband) after ``delay_s``, off the loop's
        thread (``bluetoothctl`` may take seconds); failures are logged, never raised."""
        try:
            address = parse_bluealsa_pcm(named.device).disconnect_address
        except BlueAlsaNameError as error:
            log.error("off_after_timer: %s", error)
            return
        if address is None:
            log.warning("off_after_timer: %s names no headband to disconnect", named.device)
            return
        timer = threading.Timer(delay_s, BluetoothLink().disconnect, args=(address,))
        timer.daemon = True
        timer.start()

    def start(self, scene: Scene) -> None:
        """Start the audio thread on the output :meth:`open` opened, playing ``scene``."""
        audio, named, pending = self._audio, self._named, [self._first]
        assert audio is not None
        clock_instead = self.missing is not None

        def open_output() -> Output:
            if pending:
                first = pending.pop()
                if isinstance(first, OutputError):
                    raise first
                assert first is not None
                return first
            return outputs.open_output(audio, named, clock_instead=clock_instead)

        self._thread = PlaybackThread(
            open_output,
            lambda spec, rate, channels: self._open_source()(spec, rate, channels),
            scene,
            on_error=self._failed,
        )
        self._thread.start()

    def wait_first_block(self, timeout_s: float = READY_WAIT_S) -> None:
        """Wait (a little) for the first block, then log where the sound goes."""
        if self._thread is not None:
            self._thread.wait_first_block(timeout_s)
            log.info("output: %s", self._thread.output_description or "none yet (retrying)")

    def set_scene(self, scene: Scene) -> None:
        """Hand the audio thread a new scene."""
        if self._thread is not None:
            self._thread.set_scene(scene)

    @property
    def is_alive(self) -> bool:
        """Whether the audio thread wrote a block lately (what earns a watchdog ping)."""
        return self._thread is not None and self._thread.is_alive

    def check(self) -> None:
        """The health check: log a stall (or its end); report the output writing."""
        if self._thread is None:
            return
        alive = self._thread.is_alive
        if not alive and not self._stalled:
            log.error("the audio thread has stalled: no block written for several seconds")
        elif alive and self._stalled:
            log.info("the audio thread is writing again")
        self._stalled = not alive
        if alive and self._thread.blocks_written:
            self._report(OutputBack())

    def finish(self, timeout_s: float) -> None:
        """Let the current scene play out (at most ``timeout_s``), then stop the thread."""
        if self._thread is not None:
            self._thread.finish(timeout_s)

    def stop(self) -> None:
        """Stop the audio thread at once."""
        if self._thread is not None:
            self._thread.stop()

    def _failed(self, error: SleepsoundError) -> None:
        # On the audio thread: only report.
        if isinstance(error, SoundError):
            self._report(SoundFailed(str(error)))
        else:
            self._report(OutputFailed(str(error)))


def _info(
    named: OutputSetting, *, audible: bool, problem: str | None = None, stand_in: bool = False
) -> OutputInfo:
    """What the state document says about ``named`` (the clock standing in: no device)."""
    return OutputInfo(
        name=named.name,
        kind=named.kind,
        device=None if named.kind == "clock" or stand_in else named.device,
        audible=audible,
        connected=audible or named.kind == "clock",
        problem=problem,
        stand_in=stand_in,
    )
