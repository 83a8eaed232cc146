"""The sd_notify client against a real NOTIFY_SOCKET bound by the test."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kiosk.infra.watchdog import Watchdog, notify_address, sd_notify, watchdog_interval

#: WatchdogSec for the tests: short so the test is quick, long enough for a loaded CI box.
WATCHDOG_USEC = 400_000


@pytest.fixture
def notify_socket(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(0.05)
    yield sock, str(path)
    sock.close()


def _collect(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    received = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        received.append((time.monotonic(), data.decode()))
    return received


LOOP = textwrap.dedent(
    """
    import sys, time
    from kiosk.infra.watchdog import Watchdog
    dog = Watchdog()
    dog.ready(status="loop running")
    healthy_until = time.monotonic() + float(sys.argv[1])
    while True:
        if time.monotonic() < healthy_until:
            dog.ping()          # a healthy iteration
            time.sleep(0.01)
        else:
            time.sleep(3600)    # the loop hangs: a stuck driver call, a deadlock
    """
)


def test_main_loop_sends_ready_then_periodic_pings_and_stops_when_hung(notify_socket):
    sock, path = notify_socket
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    healthy_s = 1.2
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(healthy_s)],
        env=env,
        cwd=Path(__file__).parents[1],
    )
    try:
        messages = _collect(sock, healthy_s + 1.5)
        assert proc.poll() is None, "the loop process died instead of hanging"
    finally:
        proc.kill()
        proc.wait()
    assert messages, "nothing arrived on NOTIFY_SOCKET"
    assert messages[0][1] == "READY=1\nSTATUS=loop running"
    pings = [t for t, text in messages if text == "WATCHDOG=1"]
    interval = WATCHDOG_USEC / 1e6
    # 1.2 s healthy at one ping per 0.2 s: about 6; rate limiting keeps it far below 120.
    assert 3 <= len(pings) <= int(healthy_s / (interval / 2)) + 1, pings
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert min(gaps) >= interval / 2 * 0.9, gaps
    # After the hang, silence: systemd would kill us once WatchdogSec passes.
    last = messages[-1][0]
    assert time.monotonic() - last > 1.0, "pings continued after the main loop hung"


def test_abstract_namespace_socket_is_supported():
    name = f"agriqs-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_no_op_outside_systemd():
    dog = Watchdog(environ={})
    assert not dog.enabled
    assert dog.ready() is False
    assert dog.ping() is False
    assert notify_address({}) is None


def test_watchdog_meant_for_another_pid_is_ignored():
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert watchdog_interval(env) is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert watchdog_interval(env) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_missing_socket_is_logged_not_raised(tmp_path: Path, caplog):
    env = {"NOTIFY_SOCKET": str(tmp_path / "gone.sock"), "WATCHDOG_USEC": "1000000"}
    dog = Watchdog(environ=env)
    assert dog.ping() is False
    assert "sd_notify" in caplog.text


def test_ping_rate_limit_uses_half_the_interval(notify_socket):
    sock, path = notify_socket
    now = [100.0]
    dog = Watchdog(
        environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}, clock=lambda: now[0]
    )
    assert dog.ping_every_s == 5.0
    assert dog.ping() is True  # first ping goes out at once
    now[0] += 4.9
    assert dog.ping() is False
    now[0] += 0.2
    assert dog.ping() is True
    assert [m for _, m in _collect(sock, 0.2)] == ["WATCHDOG=1", "WATCHDOG=1"]
