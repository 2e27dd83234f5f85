"""The audio thread: follows the newest scene, renders blocks, keeps the output fed.

The command loop owns all state and hands this thread immutable
:class:`~sleepsound.scene.Scene` snapshots through :meth:`PlaybackThread.set_scene`
(a single reference assignment, so no lock is needed). The thread never decides
anything: it applies the scene between blocks and reports errors back through a
callback.

When the device vanishes (a sound card unplugged, a Bluetooth headband out of range:
the write fails with ENODEV or EIO) the thread holds: it closes the device, says so
once, and tries to open it again every :data:`RETRY_S`. The scene stays what the
command loop last said, and the loop's timers keep running on their own clock, so a
sleep timer still ends when it was going to. When the device is back, the same engine
carries on: :meth:`~sleepsound.engine.Engine.resume` moves every fade on by the time
that passed and brings the sound in from silence to the level it had (never a jump,
never the device's own 100 %). Only a device that comes back in another format (rate,
channels) gets a fresh engine, which fades the scene in from silence too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from sleepsound.engine import RETURN_FADE_S, Engine, SourceFactory
from sleepsound.errors import OutputError, SleepsoundError
from sleepsound.outputs.base import Output, render_frames
from sleepsound.scene import Scene

log = logging.getLogger(__name__)

RETRY_S = 2.0
"""How long to wait before opening a missing output again."""

RETRY_LOG_EVERY_S = 600.0
"""The same failure to open is logged once, then again only this often: a headband
switched off for the night is retried all night, and must not fill the journal."""


class PlaybackThread:
    """Runs the engine into an output on its own thread."""

    def __init__(
        self,
        open_output: Callable[[], Output],
        open_source: SourceFactory,
        scene: Scene,
        on_error: Callable[[SleepsoundError], None] = lambda error: None,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_output = open_output
        self._open_source = open_source
        self._scene = scene
        self._on_error = on_error
        self._retry_s = retry_s
        self._clock = clock
        self._quit = threading.Event()
        self._finish = threading.Event()
        self._first_block = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sleepsound-audio", daemon=True)
        self._output: Output | None = None
        self._engine: Engine | None = None
        self._lost_at: float | None = None
        """Monotonic time the output went away (None while it plays or before the first)."""
        self._open_failure: tuple[str, float] | None = None
        """The last failure to open and when it was last logged (None once open)."""
        self.heartbeat = clock()
        """Monotonic time of the last block handed to the output."""
        self.blocks_written = 0
        """Blocks the current output took since it was opened: 0 while it is away, so a
        health check that asks "is the thread writing?" hears no while a headband is gone."""

    @property
    def scene(self) -> Scene:
        """The newest scene handed to the thread."""
        return self._scene

    @property
    def output_description(self) -> str | None:
        """What the output is, or None while there is none."""
        output = self._output
        return output.description if output is not None else None

    @property
    def is_connected(self) -> bool:
        """True while the output is open and takes blocks (False while it is away)."""
        return self._output is not None and self.blocks_written > 0

    @property
    def underruns(self) -> int:
        """Underruns counted by the current output."""
        output = self._output
        return output.underruns if output is not None else 0

    @property
    def is_alive(self) -> bool:
        """True while the thread runs and has written a block in the last few seconds."""
        stale = self._clock() - self.heartbeat > max(3 * self._retry_s, 5.0)
        return self._thread.is_alive() and not stale

    def wait_first_block(self, timeout_s: float) -> bool:
        """Block until the first block reached the output (True) or ``timeout_s`` passed."""
        return self._first_block.wait(timeout_s)

    def set_scene(self, scene: Scene) -> None:
        """Follow ``scene`` from the next block on."""
        self._scene = scene

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def finish(self, timeout_s: float) -> None:
        """Stop once the engine has faded to silence (or after ``timeout_s``), then close."""
        self._finish.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._quit.set()
            self._thread.join(1.0)

    def stop(self) -> None:
        """Stop at once (tests, and after :meth:`finish` timed out)."""
        self._quit.set()
        self._thread.join(5.0)

    def _report(self, error: SleepsoundError) -> None:
        try:
            self._on_error(error)
        except Exception:  # a faulty callback must never kill the audio thread
            log.exception("error callback failed")

    def _connect(self) -> bool:
        try:
            self._output = self._open_output()
        except OutputError as error:
            self._log_open_failure(str(error))
            self._report(error)
            self.heartbeat = self._clock()
            self._quit.wait(self._retry_s)
            return False
        output, engine, lost_at = self._output, self._engine, self._lost_at
        self._lost_at = None
        self._open_failure = None
        same_format = engine is not None and (engine.rate, engine.channels) == (
            output.rate,
            output.channels,
        )
        if engine is not None and same_format and lost_at is not None:
            away_s = max(0.0, self._clock() - lost_at)
            engine.resume(away_s, RETURN_FADE_S)
            log.info(
                "%s is back after %.0f s; fading the sound in over %.0f s",
                output.description,
                away_s,
                RETURN_FADE_S,
            )
            return True
        scene = self._scene
        if engine is not None:
            engine.close()
            # Back in another format: a fresh engine, still fading in from silence.
            scene = replace(scene, transition_s=max(scene.transition_s, RETURN_FADE_S))
        self._engine = Engine(output.rate, output.channels, self._open_source, scene)
        log.info("playing to %s", output.description)
        return True

    def _log_open_failure(self, message: str) -> None:
        """A new failure as a warning; the same one again at debug level, with a reminder
        every :data:`RETRY_LOG_EVERY_S`."""
        now = self._clock()
        last = self._open_failure
        if last is None or last[0] != message or now - last[1] >= RETRY_LOG_EVERY_S:
            log.warning("%s; retrying every %g s", message, self._retry_s)
            self._open_failure = (message, now)
        else:
            log.debug("%s; retrying in %g s", message, self._retry_s)

    def _disconnect(self) -> None:
        output, self._output = self._output, None
        if output is not None:
            try:
                output.close()
            except Exception:  # closing a vanished device can fail in many ways
                log.debug("closing the output failed", exc_info=True)

    def _run(self) -> None:
        try:
            while not self._quit.is_set():
                if self._output is None and not self._connect():
                    if self._finish.is_set():
                        break
                    continue
                assert self._output is not None and self._engine is not None
                engine = self._engine
                scene = self._scene
                if self._finish.is_set() and scene.keep_alive:
                    scene = replace(scene, keep_alive=False)  # the tone fades out too
                    if scene == engine.scene:
                        scene = engine.scene
                if scene is not engine.scene:
                    engine.apply(scene)
                block = engine.render(render_frames(self._output))
                while engine.errors:
                    self._report(engine.errors.popleft())
                try:
                    self._output.write(block)
                except OutputError as error:
                    log.warning(
                        "%s; holding, and opening it again every %g s", error, self._retry_s
                    )
                    self._report(error)
                    self._lost_at = self._clock()
                    self.blocks_written = 0
                    self._disconnect()
                    continue
                self.blocks_written += 1
                self.heartbeat = self._clock()
                self._first_block.set()
                if self._finish.is_set() and engine.is_silent:
                    break
        except Exception:
            log.exception("the audio thread failed")
            raise
        finally:
            self._disconnect()
            if self._engine is not None:
                self._engine.close()
