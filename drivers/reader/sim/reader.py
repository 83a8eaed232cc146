"""The simulated reader: the firmware simulator as a child process behind a real pty.

The host side talks to it exactly as to the real part (pyserial on a device path);
`SimulatorControls` adds the bench-only knobs (samples, faults) the simulator accepts
over the link, so tests drive faults the way a technician's test jig would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import readerlink
from readerlink.errors import DeviceDisconnectedError, LinkError
from readerlink.host import ReaderLink
from readerlink.messages import Capability, MsgType, SimOp, pack_sim_control

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(readerlink.__file__).resolve().parent.parent


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
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if link_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="reader-sim-")
            link_path = Path(self._tmp.name) / "ttyREADER"
        self.link_path = Path(link_path)
        self.args = [
            sys.executable,
            "-m",
            "readerlink.simulator",
            "--pty-link",
            str(self.link_path),
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
        stderr = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self.args, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env
            )
        finally:
            if stderr is not subprocess.DEVNULL:
                stderr.close()
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
    """Bench-only controls of a simulated reader, sent over the link (SIM_CONTROL)."""

    def __init__(self, link: ReaderLink) -> None:
        hello = link.hello
        if hello is None or Capability.SIM_CONTROL not in hello.capabilities:
            raise LinkError("this reader is not a simulator")
        self._link = link

    def _op(self, op: SimOp, channel: int = 0, a: float = 0.0, b: float = 0.0) -> None:
        self._link.request(MsgType.SIM_CONTROL, pack_sim_control(op, channel, a, b))

    def load_enzyme_sample(self, channel: int, inhibitor: float, pigment: float = 0.0) -> None:
        """Put a sample in a cuvette: inhibitor 1.0 halves AChE activity; pigment in AU."""
        self._op(SimOp.LOAD_ENZYME_SAMPLE, channel, inhibitor, pigment)

    def load_strip(self, ratio: float, c_line: float = 1.0) -> None:
        """Insert a strip: analyte/IC50 ratio; c_line 0 makes an invalid strip."""
        self._op(SimOp.LOAD_STRIP, 0, ratio, c_line)

    def set_ambient(self, celsius: float) -> None:
        self._op(SimOp.SET_AMBIENT, 0, celsius)

    def set_bit_error_rate(self, rate: float) -> None:
        self._op(SimOp.SET_BIT_ERROR_RATE, 0, rate)

    def set_drop_rate(self, rate: float) -> None:
        self._op(SimOp.SET_DROP_RATE, 0, rate)

    def stall(self, seconds: float) -> None:
        self._op(SimOp.STALL, 0, seconds)

    def reset_after(self, seconds: float) -> None:
        self._op(SimOp.RESET_AFTER, 0, seconds)

    def reset_mid_run(self, fraction: float = 0.5) -> None:
        """The next run resets the MCU when it reaches `fraction` of its points."""
        self._op(SimOp.RESET_MID_RUN, 0, fraction)

    def unplug(self, seconds: float) -> None:
        """Pull the cable shortly after replying; plug it back in after `seconds`."""
        self._op(SimOp.UNPLUG, 0, seconds)

    def cut_update_at(self, fraction: float) -> None:
        """Cut power when an update has received `fraction` of the image."""
        self._op(SimOp.CUT_UPDATE_AT, 0, fraction)


def wait_for_path(path: Path, timeout: float) -> None:
    """Wait until a device path exists (a replugged reader re-enumerating)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise DeviceDisconnectedError(f"{path} did not appear within {timeout:.1f} s")
        time.sleep(0.02)
