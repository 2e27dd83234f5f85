"""Shared test helpers: real ALSA capture, a real Mosquitto broker, audio analysis.

Import them as ``from support.audio import rms_db`` (pytest puts ``tests/`` on ``sys.path``).
"""
