"""ALSA output through pyalsaaudio: a thin adapter, no policy.

Opens a device by name (``default``, ``plughw:CARD=Headphones``: names survive
reboots, card numbers do not), negotiates 32- or 16-bit samples, reads back the
period and buffer sizes ALSA granted, and recovers from underruns, counting them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging

import alsaaudio
import numpy as np

from sleepsound.dsp.dither import Ditherer
from sleepsound.errors import DeviceMissingError, OutputError

log = logging.getLogger(__name__)

FORMATS = {"S32_LE": (alsaaudio.PCM_FORMAT_S32_LE, 32), "S16_LE": (alsaaudio.PCM_FORMAT_S16_LE, 16)}
AUTO_ORDER = ("S32_LE", "S16_LE")
_MISSING_MARKERS = ("No such file or directory", "No such device", "Unknown PCM", "does not exist")
_AWAY_MARKERS = ("Input/output error",)
"""Open failures of a device that is configured but not answering (EIO): a Bluetooth
headband out of range, a PulseAudio sink that went away. Retried, like a busy card."""


# alsa-lib prints its own diagnostics on stderr ("ALSA lib confmisc.c:…"), which would
# bury our one-line error messages; route them to the debug log instead.
_ERROR_HANDLER_TYPE = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p
)


def _log_alsa_lib_error(
    file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None
) -> None:
    log.debug(
        "alsa-lib: %s:%d %s (error %d)",
        (file or b"?").decode(),
        line,
        (function or b"?").decode(),
        err,
    )


_error_handler = _ERROR_HANDLER_TYPE(_log_alsa_lib_error)


def _quiet_alsa_lib() -> None:
    name = ctypes.util.find_library("asound")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).snd_lib_error_set_handler(_error_handler)


_quiet_alsa_lib()


def _is_missing(error: Exception) -> bool:
    text = str(error)
    return any(marker in text for marker in _MISSING_MARKERS)


class AlsaOutput:
    """Plays blocks through an ALSA PCM; ``write`` blocks while the device buffer is full."""

    def __init__(
        self,
        device: str = "default",
        rate: int = 48000,
        channels: int = 2,
        sample_format: str = "auto",
        period_frames: int = 1024,
        periods: int = 4,
        dither_seed: int | None = None,
    ) -> None:
        self.device = device
        self.underruns = 0
        order = AUTO_ORDER if sample_format == "auto" else (sample_format,)
        last_error: Exception | None = None
        for name in order:
            if name not in FORMATS:
                raise OutputError(f"unknown sample format {name!r}: use auto, S16_LE or S32_LE")
            code, bits = FORMATS[name]
            try:
                self._pcm = alsaaudio.PCM(
                    type=alsaaudio.PCM_PLAYBACK,
                    mode=alsaaudio.PCM_NORMAL,
                    device=device,
                    rate=rate,
                    channels=channels,
                    format=code,
                    periodsize=period_frames,
                    periods=periods,
                )
            except alsaaudio.ALSAAudioError as error:
                if _is_missing(error):
                    raise DeviceMissingError(
                        f"ALSA device {device!r} is not there ({error}); "
                        "list devices with `aplay -L` and set [audio] device"
                    ) from error
                if any(marker in str(error) for marker in _AWAY_MARKERS):
                    raise OutputError(
                        f"ALSA device {device!r} does not answer ({error}): it is away or "
                        "off (a Bluetooth headband out of range or switched off?)"
                    ) from error
                last_error = error
                continue
            info = self._pcm.info()
            if info.get("format_name") != name:
                self._pcm.close()
                last_error = OutputError(f"device gave {info.get('format_name')} for {name}")
                continue
            self.sample_format = name
            self._bits = bits
            self._ditherer = Ditherer(dither_seed)
            break
        else:
            raise OutputError(
                f"ALSA device {device!r} accepts none of {', '.join(order)} at {rate} Hz, "
                f"{channels} channel(s): {last_error}; try a plughw: device"
            )
        self.rate = int(info["rate"])
        self.channels = int(info["channels"])
        self.period_frames = int(info["period_size"])
        self.buffer_frames = int(info["buffer_size"])
        log.info("ALSA: %s", self.description)

    @property
    def description(self) -> str:
        """The device and what ALSA granted."""
        return (
            f"alsa {self.device} {self.sample_format} {self.rate} Hz {self.channels} ch, "
            f"period {self.period_frames}, buffer {self.buffer_frames} frames"
        )

    def write(self, block: np.ndarray) -> None:
        """Play a block; after an underrun ALSA re-prepares and the rest is written again."""
        samples = self._ditherer.convert(block, self._bits)
        frame_bytes = samples.itemsize * samples.shape[1]
        data = memoryview(samples).cast("B")  # pyalsaaudio takes any buffer: no copy
        attempts = 3
        while data and attempts:
            try:
                written = self._pcm.write(data)
            except alsaaudio.ALSAAudioError as error:
                raise DeviceMissingError(
                    f"ALSA device {self.device!r} failed while playing ({error}); "
                    "it was unplugged or taken by another program"
                ) from error
            if written > 0:
                # A blocking write stops short only when an underrun struck during it:
                # ALSA returns the frames it took, and the next write reports the underrun.
                data = data[written * frame_bytes :]
                continue
            if written == 0:
                return
            if written == -errno.EPIPE:
                self.underruns += 1
                attempts -= 1
                log.warning("ALSA underrun #%d on %s", self.underruns, self.device)
                continue
            raise OutputError(f"ALSA write to {self.device!r} failed with error {written}")

    def close(self) -> None:
        """Let what is queued play out, then close the device."""
        with contextlib.suppress(alsaaudio.ALSAAudioError):
            self._pcm.drain()
        self._pcm.close()
