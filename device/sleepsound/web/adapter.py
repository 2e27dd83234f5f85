"""The daemon's web adapter: the phone page plugged into ``sleepsound run``.

Listed in the daemon's ``ADAPTER_FACTORIES`` as ``"sleepsound.web.adapter:start_adapter"``
(started again when a reload changes ``[web]`` or ``[sounds] dir``). The sound never
waits for it: the server runs on its own thread, and a port that cannot be bound or a
password file that cannot be read is one log line, with everything else running.
"""

from __future__ import annotations

import logging
import threading
from socket import gethostname

from sleepsound.adapter_host import AdapterHost
from sleepsound.errors import ConfigError
from sleepsound.web.api import WebApi
from sleepsound.web.guard import HostRule, Sessions, read_password
from sleepsound.web.server import WebServer
from sleepsound.web.settings import WebConfig, split_listen
from sleepsound.web.state import LiveState
from sleepsound.web.uploads import SoundsFolder

log = logging.getLogger("sleepsound.web")

POLL_S = 0.5
"""How often the idle serving thread wakes to check for a stop (select's timeout)."""


class WebAdapter:
    """The running server, its thread and its listener."""

    def __init__(self, server: WebServer, live: LiveState) -> None:
        self.server = server
        self.live = live
        self._thread = threading.Thread(
            target=server.serve_forever, args=(POLL_S,), name="sleepsound-web", daemon=True
        )

    @property
    def port(self) -> int:
        """The port served (the configured one, or the one given for port 0)."""
        return int(self.server.server_address[1])

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """End every event stream, stop serving and close the port."""
        self.live.close()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def start_adapter(host: AdapterHost) -> WebAdapter | None:
    """The daemon's adapter factory: serve the phone page unless ``[web] enabled = false``."""
    config: WebConfig = host.config.section("web")
    if not config.enabled:
        return None
    sessions = None
    if config.password_file:
        try:
            sessions = Sessions(read_password(config.password_file))
        except ConfigError as error:
            log.error("the phone page is off: %s", "; ".join(error.problems))
            return None
    live = LiveState()
    folder = SoundsFolder(
        host.config.sounds.dir, int(config.max_upload_mb * 1_000_000), config.max_files
    )
    address = split_listen(config.listen)
    try:
        server = WebServer(
            address,
            WebApi(host, live, folder, password=sessions is not None),
            HostRule(config.allowed_hosts),
            sessions,
        )
    except OSError as error:
        log.error(
            "the phone page is off: cannot listen on %s (%s); fix [web] listen",
            config.listen,
            error.strerror or error,
        )
        return None
    adapter = WebAdapter(server, live)
    host.add_listener(live)
    adapter.start()
    shown = address[0] if address[0] not in ("", "0.0.0.0", "::") else f"{gethostname()}.local"
    log.info("the phone page is at http://%s:%d/", shown, adapter.port)
    return adapter


__all__ = ["WebAdapter", "start_adapter"]
