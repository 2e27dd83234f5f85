"""MQTT and Home Assistant: state out, commands in, discovery.

Pure parts: :mod:`~sleepsound.mqtt.topics` (names and routing),
:mod:`~sleepsound.mqtt.payloads` (bytes <-> commands and documents),
:mod:`~sleepsound.mqtt.discovery` (Home Assistant configs),
:mod:`~sleepsound.mqtt.identity` (stable ids). The paho adapter is
:mod:`~sleepsound.mqtt.bridge`; the daemon starts it through
:mod:`~sleepsound.mqtt.adapter` (``start_adapter(host)``).

Importing this package imports nothing else (no paho): the pure parts stay light.
"""
