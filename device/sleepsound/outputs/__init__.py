"""Where samples go: ALSA, a real-time clock (optionally recording), or a file."""
