"""Pure DSP on numpy blocks: gains, fades, crossfades, limiter, dither. No I/O here."""
