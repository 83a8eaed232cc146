"""A real Mosquitto on a free loopback port, for tests that need a broker.

Mosquitto cannot bind ``port 0`` and report the port back, so the helper picks a
free port, writes a config into a private directory, starts the binary and
waits until the port accepts connections. A missing binary is an error with a
clear message, never a skip: a test run without a broker proves nothing.

Usage (pytest)::

    from support.mqtt_broker import broker_factory  # noqa: F401  (the fixture)

    def test_x(broker_factory):
        broker = broker_factory(acl=ACL_TEXT, passwords={"330100/K001": "pw"})
        ... broker.host, broker.port ...
        broker.restart()          # same port, same persistence file

Outside pytest, ``start_broker(workdir, ...)`` returns a ``Broker``; call ``close()``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Where Debian/Ubuntu install the broker; PATH is searched first.
MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
#: A broker that has not opened its port by then has failed (bad config, say).
START_TIMEOUT_S = 10.0
#: Graceful stop first (persistence is written on SIGTERM), then SIGKILL.
STOP_TIMEOUT_S = 5.0


class BrokerUnavailable(RuntimeError):
    """The mosquitto binary is missing or would not start; the message says why."""


def mosquitto_binary() -> str:
    """Path of the mosquitto executable, or BrokerUnavailable naming what to install."""
    for candidate in MOSQUITTO_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise BrokerUnavailable(
        "the mosquitto broker binary was not found (looked for "
        f"{', '.join(MOSQUITTO_CANDIDATES)}); install it (apt-get install mosquitto "
        "mosquitto-clients): these tests need a real broker and are never skipped"
    )


#: The broker plugin that binds client ids to accounts (deployed beside the ACL).
PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "docs/deploy/mosquitto/agriqs_clientid.c"


def identity_plugin() -> Path:
    """docs/deploy/mosquitto/agriqs_clientid.c built as the deployment builds it, once
    per source version (cached in the temp directory)."""
    source = PLUGIN_SOURCE.read_bytes()
    built = Path(tempfile.gettempdir()) / (
        f"agriqs_clientid-{hashlib.sha256(source).hexdigest()[:16]}.so"
    )
    if built.exists():
        return built
    compiler = shutil.which("cc") or shutil.which("gcc")
    headers = ("/usr/include/mosquitto_broker.h", "/usr/include/mosquitto.h")
    if compiler is None or not all(Path(h).exists() for h in headers):
        raise BrokerUnavailable(
            "building the broker's client-id plugin needs a C compiler and the mosquitto "
            "plugin and client headers: apt-get install gcc mosquitto-dev libmosquitto-dev"
        )
    partial = built.with_suffix(f".{os.getpid()}.tmp")
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(partial),
         str(PLUGIN_SOURCE)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.replace(partial, built)
    return built


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_password_file(path: Path, passwords: Mapping[str, str]) -> Path:
    """A mosquitto password file (hashed by mosquitto_passwd) for ``user -> password``."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise BrokerUnavailable("mosquitto_passwd not found (package mosquitto)")
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    for user, password in passwords.items():
        subprocess.run([tool, "-b", str(path), user, password], check=True, capture_output=True)
    return path


@dataclass
class Broker:
    """One mosquitto process; ``restart()`` keeps port and persistence."""

    workdir: Path
    port: int
    config_path: Path
    host: str = "127.0.0.1"
    log_path: Path = field(init=False)
    console_path: Path = field(init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # The broker's own log file (flushed per line; its stdout would be block-buffered).
        self.log_path = self.workdir / "mosquitto.log"
        self.console_path = self.workdir / "mosquitto.out"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The running process id (benchmarks read its CPU and memory from /proc)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start the process and wait until the port accepts TCP connections."""
        if self.running:
            return
        with self.console_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerUnavailable(
                    f"mosquitto exited with {self._proc.returncode}; log:\n{self.log()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"mosquitto did not listen on {self.port}; log:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (saves persistence) or SIGKILL; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        self.stop(kill=kill)
        if down_s:
            time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop()

    def log(self) -> str:
        """Console output (startup errors) followed by the broker's log file."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.console_path, self.log_path)
            if path.exists()
        )


def start_broker(
    workdir: Path,
    *,
    acl: str | Path | None = None,
    passwords: Mapping[str, str] | Path | None = None,
    extra_config: str = "",
    persistence: bool = True,
    port: int | None = None,
    start: bool = True,
    bind_client_ids: bool = False,
) -> Broker:
    """Write a config under ``workdir`` and (unless ``start=False``) start the broker.

    ``acl``: ACL text or a file path; ``passwords``: a ``user -> password`` map
    (hashed here) or an existing password file. Without passwords, anonymous
    clients are allowed (a test of something other than security).
    ``bind_client_ids``: load the deployment's client-id plugin (agriqs_clientid).
    """
    mosquitto_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    lines = [
        f"listener {port} 127.0.0.1",
        # Stay root when run as root so the broker can read the test's private files.
        "user root" if os.geteuid() == 0 else "",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {workdir}/",
        "persistence_file mosquitto.db",
        f"log_dest file {workdir / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %H:%M:%S",
    ]
    if passwords is None:
        lines.append("allow_anonymous true")
    else:
        pw_path = (
            Path(passwords)
            if isinstance(passwords, (str, Path))
            else write_password_file(workdir / "passwd", passwords)
        )
        lines += ["allow_anonymous false", f"password_file {pw_path}"]
    if acl is not None:
        acl_path = Path(acl) if isinstance(acl, Path) else workdir / "acl"
        if not isinstance(acl, Path):
            acl_path.write_text(acl)
        lines.append(f"acl_file {acl_path}")
    if bind_client_ids:
        lines.append(f"plugin {identity_plugin()}")
    if extra_config:
        lines.append(extra_config)
    config_path = workdir / "mosquitto.conf"
    config_path.write_text("\n".join(line for line in lines if line) + "\n")
    broker = Broker(workdir=workdir, port=port, config_path=config_path)
    if start:
        broker.start()
    return broker


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """A factory of brokers (keyword arguments as ``start_broker``), all stopped at teardown."""
    brokers: list[Broker] = []

    def make(**kwargs: object) -> Broker:
        broker = start_broker(tmp_path / f"broker{len(brokers)}", **kwargs)  # type: ignore[arg-type]
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.close()
