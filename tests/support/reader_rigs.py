"""Every ``TestReader`` backend that can run here, each with the bench's hands on it.

Both run the firmware simulator as a child process behind a real pty (the only
reader part there is here) and differ in how the kiosk reaches it:

- ``simulated``: ``open_test_reader("simulated")``, a ``SimulatedTestReader`` that
  owns the child, as the kiosk in simulation does.
- ``serial``: ``open_test_reader("serial", port=...)``, the real ``BridgeTestReader``
  on the pty's by-id style link, exactly as on a kiosk with the real part; the rig
  starts the child itself and keeps the bench controls, which the reader never has.

The simulator's truth log records every run as the device measured it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drivers.reader import TestReader, open_test_reader
from drivers.reader.sim.reader import SimulatedTestReader, SimulatorControls, SimulatorProcess
from support.reader import FAST_BAUD, public_hex

BACKENDS = ("simulated", "serial")
#: The release key the rigs' bootloaders trust.
RELEASE_KEY = Ed25519PrivateKey.generate()
TIME_SCALE = 180.0


@dataclass
class ReaderRig:
    backend: str
    reader: TestReader
    controls: SimulatorControls  # the bench's hands on the part
    link_path: Path
    truth_log: Path

    def truth(self) -> dict[int, dict]:
        """Every run the device finished, keyed by run id, as it measured it."""
        if not self.truth_log.exists():
            return {}
        lines = self.truth_log.read_text().splitlines()
        return {rec["run_id"]: rec for rec in map(json.loads, lines)}


@contextmanager
def reader_rig(backend: str, tmp_path: Path) -> Iterator[ReaderRig]:
    by_id = tmp_path / "serial" / "by-id"
    by_id.mkdir(parents=True, exist_ok=True)
    link = by_id / "usb-AgriQS_Reader_AQR12-SIM-0001-if00"
    truth = tmp_path / "truth.jsonl"
    args = ["--truth-log", str(truth), "--trusted-key", public_hex(RELEASE_KEY)]
    log = tmp_path / "simulator.log"
    if backend == "simulated":
        reader = open_test_reader(
            "simulated",
            port=link,
            baudrate=FAST_BAUD,
            time_scale=TIME_SCALE,
            simulator_args=args,
            simulator_log=log,
        )
        assert isinstance(reader, SimulatedTestReader)
        with reader:
            yield ReaderRig(backend, reader, reader.controls, link, truth)
    elif backend == "serial":
        sim = SimulatorProcess(
            link, baudrate=FAST_BAUD, time_scale=TIME_SCALE, extra_args=args, log_path=log
        )
        sim.start()
        try:
            with open_test_reader("serial", port=link, baudrate=FAST_BAUD) as reader:
                yield ReaderRig(backend, reader, SimulatorControls(sim.control_path), link, truth)
        finally:
            sim.stop()
    else:
        raise ValueError(f"no reader backend {backend!r}")
