"""sleepsound: a bedside sleep-sound daemon for the Raspberry Pi."""

__version__ = "0.1.0"
