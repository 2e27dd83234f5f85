"""The Bluetooth link to a headband: ``bluetoothctl disconnect ADDRESS``, and nothing else.

A thin adapter with no policy: whoever decides that the headband should go quiet (the
sleep timer ended and the output says ``off_after_timer``) calls :meth:`BluetoothLink.
disconnect`. The radio then stays quiet for the rest of the night, and the headband,
no longer connected, switches itself off after its own timeout.

``bluetoothctl`` (from the ``bluez`` package) is run with an argument list (never a
shell) and a timeout; the address must be six hex pairs, so nothing else can reach its
command line. Every failure (no bluetoothctl, a timeout, the device not connected) is
logged and reported as ``False``, never raised: a headband that cannot be disconnected
must not disturb the player.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading

log = logging.getLogger(__name__)

DISCONNECT_TIMEOUT_S = 10.0
"""How long ``bluetoothctl disconnect`` may take (it usually answers within a second)."""

_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_FAILED_MARKERS = (
    "not available",
    "Failed to disconnect",
    "org.bluez.Error",
    "No default controller",
)


class BluetoothLink:
    """Disconnects Bluetooth devices through ``bluetoothctl`` (found on ``PATH``)."""

    def __init__(
        self, command: str = "bluetoothctl", timeout_s: float = DISCONNECT_TIMEOUT_S
    ) -> None:
        self.command = command
        self.timeout_s = timeout_s

    def disconnect(self, address: str) -> bool:
        """Disconnect ``address``; True when bluetoothctl says it did (blocks ≤ timeout).

        Errors are logged, never raised.
        """
        if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
            log.error("not disconnecting %r: not a Bluetooth address (XX:XX:XX:XX:XX:XX)", address)
            return False
        address = address.upper()
        try:
            done = subprocess.run(
                [self.command, "disconnect", address],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError:
            log.error(
                "cannot disconnect %s: %s is not installed (sudo apt-get install bluez)",
                address,
                self.command,
            )
            return False
        except subprocess.TimeoutExpired:
            log.error(
                "cannot disconnect %s: %s gave no answer in %g s",
                address,
                self.command,
                self.timeout_s,
            )
            return False
        except OSError as error:
            log.error("cannot disconnect %s: %s failed to run (%s)", address, self.command, error)
            return False
        said = " ".join((done.stdout + " " + done.stderr).split())
        if done.returncode != 0 or any(marker in said for marker in _FAILED_MARKERS):
            log.warning(
                "disconnecting %s failed (%s exit %d): %s",
                address,
                self.command,
                done.returncode,
                said or "no output",
            )
            return False
        log.info("disconnected the Bluetooth device %s (the headband can switch off)", address)
        return True

    def disconnect_later(self, address: str) -> threading.Thread:
        """Disconnect on a thread of its own (the caller never waits); returns the thread."""
        thread = threading.Thread(
            target=self.disconnect, args=(address,), name="sleepsound-bt-disconnect", daemon=True
        )
        thread.start()
        return thread


__all__ = ["DISCONNECT_TIMEOUT_S", "BluetoothLink"]
