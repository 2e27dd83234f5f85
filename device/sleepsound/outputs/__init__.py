"""Where samples go: ALSA, a real-time clock (optionally recording), or a file.

:func:`open_output` is the one verb the daemon opens its output with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config and numpy only when an output is opened
    from sleepsound.config import AudioConfig
    from sleepsound.outputs.base import Output


def open_output(audio: AudioConfig, *, clock_instead: bool = False) -> Output:
    """Open the output ``[audio]`` names: the ALSA device, or the clock (recording if set).

    ``clock_instead`` opens the clock output without recording: the stand-in for a
    sound card that is missing, so the daemon keeps its pace (and its timers) in silence.
    Raises :class:`~sleepsound.errors.DeviceMissingError` when the card is not there and
    :class:`~sleepsound.errors.OutputError` when it is there but unusable (busy, odd format).
    """
    if clock_instead or audio.output == "clock":
        from sleepsound.outputs.clock import ClockOutput

        return ClockOutput(
            rate=audio.rate,
            channels=audio.channels,
            period_frames=audio.period_frames,
            periods=audio.periods,
            record=None if clock_instead else audio.record,
        )
    from sleepsound.outputs.alsa import AlsaOutput  # alsaaudio only when ALSA is used

    return AlsaOutput(
        device=audio.device,
        rate=audio.rate,
        channels=audio.channels,
        sample_format=audio.format,
        period_frames=audio.period_frames,
        periods=audio.periods,
    )


__all__ = ["open_output"]
