"""Argument types shared by the sub-commands."""

from __future__ import annotations

import argparse
import math


def finite_number(text: str) -> float:
    """An argparse type: a finite number, with a message naming what was given."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
