"""CLI of the reader simulator: `python -m readerlink.simulator --pty-link PATH`.

Prints one line `READY <link path>` on stdout once the pty and the bench control
socket (`--control`, default PATH.control) exist, then runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from readerlink.messages import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION
from readerlink.simulator.control import ControlServer
from readerlink.simulator.firmware import SimConfig, SimulatedMcu


def _key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key, given as hex or as a file holding raw or hex bytes."""
    path = Path(text)
    raw = path.read_bytes() if path.exists() else text.encode()
    if len(raw) == 32:
        return raw
    try:
        key = bytes.fromhex(raw.decode().strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            "trusted key must be 32 raw bytes or 64 hex digits"
        ) from exc
    if len(key) != 32:
        raise argparse.ArgumentTypeError("trusted key must be 32 bytes")
    return key


def parse_args(argv: list[str] | None = None) -> tuple[SimConfig, Path]:
    """The simulator's configuration and the path of its bench control socket."""
    p = argparse.ArgumentParser(prog="python -m readerlink.simulator", description=__doc__)
    p.add_argument("--pty-link", required=True, type=Path, help="stable symlink to the pty")
    p.add_argument(
        "--control",
        type=Path,
        help="Unix socket for bench controls (JSON lines; default: PTY-LINK.control)",
    )
    p.add_argument("--baud", type=int, default=115200, help="line rate the bytes are paced at")
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated s per wall s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--serial", default="AQR12-SIM-0001", help="serial number")
    p.add_argument("--fw-version", default="1.0.0", help="factory image version")
    p.add_argument("--trusted-key", type=_key, help="Ed25519 release public key (hex or file)")
    p.add_argument("--uncalibrated", action="store_true", help="start with no blank stored")
    p.add_argument("--ambient", type=float, default=24.0, help="ambient temperature, °C")
    p.add_argument("--truth-log", type=Path, help="append every finished run as JSON lines")
    p.add_argument("--bit-error-rate", type=float, default=0.0, help="per data bit, both ways")
    p.add_argument("--drop-rate", type=float, default=0.0, help="per byte, both ways")
    p.add_argument("--reset-mid-run", type=float, help="reset when a run reaches this fraction")
    p.add_argument("--cut-update-at", type=float, help="power cut at this fraction of an update")
    p.add_argument("--stall-every", type=float, help="stall the MCU every N wall seconds")
    p.add_argument("--stall-for", type=float, default=0.5, help="length of each stall, s")
    p.add_argument(
        "--protocol-version",
        type=int,
        default=PROTOCOL_VERSION,
        choices=range(MIN_PROTOCOL_VERSION, PROTOCOL_VERSION + 1),
        help="newest link protocol the firmware speaks (1: a reader from before SACK and FEC)",
    )
    p.add_argument("--flash", type=Path, help="file keeping the calibration across runs")
    p.add_argument("--log-level", default="WARNING")
    a = p.parse_args(argv)
    if a.baud <= 0 or a.time_scale <= 0:
        p.error("--baud and --time-scale must be positive")
    if not 0 <= a.bit_error_rate < 0.5 or not 0 <= a.drop_rate < 1:
        p.error("error rates must be in [0, 0.5) and [0, 1)")
    logging.basicConfig(
        level=a.log_level.upper(), format="sim %(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    control = a.control or a.pty_link.with_name(a.pty_link.name + ".control")
    config = SimConfig(
        link_path=a.pty_link,
        baudrate=a.baud,
        time_scale=a.time_scale,
        seed=a.seed,
        serial_number=a.serial,
        firmware_version=a.fw_version,
        trusted_key=a.trusted_key,
        calibrated=not a.uncalibrated,
        ambient_c=a.ambient,
        truth_log=a.truth_log,
        bit_error_rate=a.bit_error_rate,
        drop_rate=a.drop_rate,
        reset_mid_run=a.reset_mid_run,
        cut_update_at=a.cut_update_at,
        stall_every_s=a.stall_every,
        stall_s=a.stall_for,
        protocol_version=a.protocol_version,
        flash_path=a.flash,
    )
    return config, control


def main(argv: list[str] | None = None) -> int:
    config, control_path = parse_args(argv)
    # The UART threads stand for interrupt handlers: let them preempt the MCU loop's
    # Python work within half a millisecond, not the interpreter's default 5 ms.
    sys.setswitchinterval(0.0005)
    mcu = SimulatedMcu(config)
    control = ControlServer(control_path, mcu.control)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    mcu.start()
    control.start()
    print(f"READY {config.link_path}", flush=True)
    done.wait()
    control.stop()
    mcu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
