"""The simulated reader: the firmware simulator as a child process behind a real pty.

The host side talks to it exactly as to the real part: `SimulatedTestReader` *is* the
real `BridgeTestReader` on the simulator's pty. What it adds is what a bench adds:
the child process it owns, and `SimulatorControls`, the jig's knobs (samples in the
cuvettes, line noise, resets, unplugging), which reach the simulator over its own
Unix-domain control socket and never over the reader link.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import readerlink
from drivers.reader.serial_reader import BridgeTestReader
from readerlink.errors import DeviceDisconnectedError, LinkError
from readerlink.host import ReaderLink

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(readerlink.__file__).resolve().parent.parent
#: How long one bench control may take to be applied and answered.
CONTROL_TIMEOUT_S = 5.0


class SimulatorControlError(RuntimeError):
    """The simulator's control socket cannot be reached or did not answer."""


class SimulatorProcess:
    """`python -m readerlink.simulator` run as a child; `stop()` is idempotent."""

    def __init__(
        self,
        link_path: str | os.PathLike[str] | None = None,
        *,
        baudrate: int = 115200,
        time_scale: float = 1.0,
        extra_args: Sequence[str] = (),
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.time_scale = time_scale
        # A short private directory: a Unix socket path must fit in 108 bytes, which a
        # pytest tmp_path next to the pty link does not always leave room for.
        self._tmp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix="reader-sim-"
        )
        private = Path(self._tmp.name)
        self.link_path = Path(link_path) if link_path is not None else private / "ttyREADER"
        self.control_path = private / "control"
        self.args = [
            sys.executable,
            "-m",
            "readerlink.simulator",
            "--pty-link",
            str(self.link_path),
            "--control",
            str(self.control_path),
            "--baud",
            str(baudrate),
            "--time-scale",
            str(time_scale),
            *extra_args,
        ]
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> Path:
        """Start the child and wait for its READY line; returns the pty link path."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        log_file = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self.args,
                stdout=subprocess.PIPE,
                stderr=log_file or subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            if log_file is not None:
                log_file.close()
        assert self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline().decode(errors="replace").strip() if ready else ""
        if not line.startswith("READY"):
            self.stop()
            raise DeviceDisconnectedError(f"reader simulator did not start ({line or 'no output'})")
        return self.link_path

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 3.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
            self._tmp = None


class SimulatorControls:
    """The bench's hands on a running simulator, through its control socket.

    Each call returns once the simulated MCU has applied it. A refused value raises
    ValueError with the simulator's reason; an unreachable simulator raises
    SimulatorControlError.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _op(self, op: str, **args: float) -> None:
        request = json.dumps({"op": op, **args}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(CONTROL_TIMEOUT_S)
                sock.connect(os.fspath(self.path))
                sock.sendall(request)
                with sock.makefile("rb") as reply_file:
                    line = reply_file.readline()
        except OSError as exc:
            raise SimulatorControlError(f"simulator control {self.path}: {exc}") from exc
        if not line:
            raise SimulatorControlError(f"simulator control {self.path}: no answer to {op}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise ValueError(f"simulator refused {op}: {reply.get('error')}")

    def load_enzyme_sample(self, channel: int, inhibitor: float, pigment: float = 0.0) -> None:
        """Put a sample in a cuvette: inhibitor 1.0 halves AChE activity; pigment in AU."""
        self._op("load_enzyme_sample", channel=channel, inhibitor=inhibitor, pigment=pigment)

    def load_strip(self, ratio: float, c_line: float = 1.0) -> None:
        """Insert a strip: analyte/IC50 ratio; c_line 0 makes an invalid strip."""
        self._op("load_strip", ratio=ratio, c_line=c_line)

    def set_ambient(self, celsius: float) -> None:
        self._op("set_ambient", celsius=celsius)

    def set_bit_error_rate(self, rate: float) -> None:
        self._op("set_bit_error_rate", rate=rate)

    def set_drop_rate(self, rate: float) -> None:
        self._op("set_drop_rate", rate=rate)

    def stall(self, seconds: float) -> None:
        """The MCU stops for ``seconds``, starting 50 ms from now."""
        self._op("stall", seconds=seconds)

    def reset_after(self, seconds: float) -> None:
        self._op("reset_after", seconds=seconds)

    def reset_mid_run(self, fraction: float = 0.5) -> None:
        """The next run resets the MCU when it reaches `fraction` of its points."""
        self._op("reset_mid_run", fraction=fraction)

    def unplug(self, seconds: float) -> None:
        """Pull the cable 150 ms from now; plug it back in after `seconds`."""
        self._op("unplug", seconds=seconds)

    def cut_update_at(self, fraction: float) -> None:
        """Cut power when an update has received `fraction` of the image."""
        self._op("cut_update_at", fraction=fraction)


class SimulatedTestReader(BridgeTestReader):
    """The real reader class on a simulator child it owns; closing it stops the child."""

    def __init__(self, link: ReaderLink, simulator: SimulatorProcess) -> None:
        super().__init__(link)
        self.simulator = simulator
        self.time_scale = simulator.time_scale
        self.controls = SimulatorControls(simulator.control_path)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.simulator.stop()


def open_simulated_reader(
    port: str | os.PathLike[str] | None = None,
    *,
    baudrate: int = 115200,
    time_scale: float = 1.0,
    simulator_args: Sequence[str] = (),
    simulator_log: str | os.PathLike[str] | None = None,
    request_timeout: float = 5.0,
    open_timeout: float = 10.0,
) -> SimulatedTestReader:
    """Start the simulator behind a pty (at `port` if given) and attach to it."""
    sim = SimulatorProcess(
        port,
        baudrate=baudrate,
        time_scale=time_scale,
        extra_args=simulator_args,
        log_path=simulator_log,
    )
    link_path = sim.start()
    link = ReaderLink(os.fspath(link_path), baudrate, request_timeout=request_timeout)
    try:
        link.open(timeout=open_timeout)
        return SimulatedTestReader(link, sim)
    except (LinkError, ValueError):
        link.close()
        sim.stop()
        raise
