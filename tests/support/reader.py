"""Helpers shared by the reader and firmware-link tests: a simulated reader behind a pty.

The simulator always runs as a real child process and the host opens its pty with
pyserial, exactly as on the kiosk.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# pytest puts tests/ on sys.path, not the project root (the package is not installed).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from drivers.reader.sim.reader import SimulatedTestReader, open_simulated_reader  # noqa: E402

FAST_BAUD = 1_000_000  # where timing is not the point, keep pacing out of the way


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@contextmanager
def simulated_reader(
    tmp_path: Path,
    *,
    baudrate: int = FAST_BAUD,
    time_scale: float = 180.0,
    args: Sequence[str] = (),
    request_timeout: float = 5.0,
) -> Iterator[SimulatedTestReader]:
    """A reader on a simulator child with a truth log and a by-id-style link path."""
    by_id = tmp_path / "serial" / "by-id"
    by_id.mkdir(parents=True, exist_ok=True)
    reader = open_simulated_reader(
        by_id / "usb-AgriQS_Reader_AQR12-SIM-0001-if00",
        baudrate=baudrate,
        time_scale=time_scale,
        simulator_args=["--truth-log", str(tmp_path / "truth.jsonl"), *args],
        simulator_log=tmp_path / "simulator.log",
        request_timeout=request_timeout,
    )
    try:
        yield reader
    finally:
        reader.close()


def truth_records(tmp_path: Path) -> dict[int, dict]:
    """Every run the simulated device finished, keyed by run id, as it measured it."""
    path = tmp_path / "truth.jsonl"
    if not path.exists():
        return {}
    return {rec["run_id"]: rec for rec in map(json.loads, path.read_text().splitlines())}


def assert_enzyme_matches_truth(run, truth: dict) -> None:
    """The host's curves are bit-for-bit what the device measured."""
    assert truth["kind"] == "enzyme"
    for ch, curve in run.curves.items():
        expected = [v / 1e6 for v in truth["data"][str(ch)]]
        assert list(curve.absorbance) == expected, f"channel {ch} differs from the device"
