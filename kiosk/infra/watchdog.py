"""systemd readiness and watchdog notifications, without a dependency.

The kiosk runs as ``Type=notify`` with ``WatchdogSec=``: systemd restarts it
when the pings stop. Pings are therefore sent only from the main loop and only
while that loop is healthy, never from a helper thread (a thread would keep a
hung UI alive). Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op,
so the same code runs on a laptop and in tests.

Protocol: one datagram per message to the unix socket named by
``NOTIFY_SOCKET``; a leading ``@`` names a socket in the abstract namespace.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

#: Ping at this fraction of WatchdogSec, the margin systemd's own docs recommend,
#: so one slow iteration does not get the kiosk killed.
PING_FRACTION = 0.5


def notify_address(environ: Mapping[str, str] | None = None) -> str | bytes | None:
    """Socket address from ``NOTIFY_SOCKET``: a path, or bytes for an abstract name."""
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET", "")
    if not raw:
        return None
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if not raw.startswith("/"):
        # systemd also allows vsock:... addresses; the kiosk never runs in a VM guest.
        log.warning("NOTIFY_SOCKET=%r is not a unix socket address; not notifying", raw)
        return None
    return raw


def sd_notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification (e.g. ``READY=1``); False when not under systemd or on error.

    Errors are logged, never raised: a lost notification must not crash the kiosk.
    """
    address = notify_address(environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as error:
        log.warning("sd_notify(%r) failed: %s", message.split("\n", 1)[0], error)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """WatchdogSec in seconds when the watchdog is meant for this process, else None."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None  # inherited by a child process; the watchdog is our parent's
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; watchdog disabled", usec)
        return None
    return value / 1_000_000 if value > 0 else None


class Watchdog:
    """What the main loop talks to: ``ready()`` once, ``ping()`` every healthy iteration.

    ``ping()`` is cheap to call every frame: it sends at most one ``WATCHDOG=1``
    per half interval.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        self._env = env
        self._clock = clock
        self.enabled = notify_address(env) is not None
        interval = watchdog_interval(env) if self.enabled else None
        self.interval_s = interval
        self.ping_every_s = interval * PING_FRACTION if interval else None
        self._last_ping: float | None = None
        self.pings_sent = 0

    def _send(self, message: str) -> bool:
        return sd_notify(message, self._env) if self.enabled else False

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is complete; call once the loop is about to run."""
        text = "READY=1" + (f"\nSTATUS={status}" if status else "")
        sent = self._send(text)
        if sent:
            self._last_ping = self._clock()  # READY also resets systemd's watchdog timer
        return sent

    def ping(self) -> bool:
        """Call on each healthy loop iteration; True when a WATCHDOG=1 went out now."""
        if self.ping_every_s is None:
            return False
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.ping_every_s:
            return False
        if self._send("WATCHDOG=1"):
            self._last_ping = now
            self.pings_sent += 1
            return True
        return False

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self._send(f"STATUS={text}")

    def stopping(self) -> bool:
        """Say a clean shutdown has begun, so a slow stop is not taken for a hang."""
        return self._send("STOPPING=1")

    def trigger(self, reason: str) -> bool:
        """Ask systemd to treat us as hung now (``WATCHDOG=trigger``), e.g. a dead driver."""
        log.error("asking systemd for a watchdog restart: %s", reason)
        return self._send(f"STATUS={reason}\nWATCHDOG=trigger")
