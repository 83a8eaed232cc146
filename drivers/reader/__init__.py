"""The rapid-test reader: ``TestReader`` and how to open one.

with open_test_reader(kind="simulated", time_scale=60) as reader:
    run = reader.run_enzyme([0, 1], duration_s=180)
"""

import importlib
from typing import TYPE_CHECKING, Any

from drivers.reader.base import (
    AbsorbanceCurve,
    CalibrationResult,
    EnzymeRun,
    FirmwareUpdateError,
    FlashProgress,
    ReaderHealth,
    ReaderInfo,
    SelfTestReport,
    StripProfile,
    TestReader,
)
from drivers.reader.factory import open_test_reader
from readerlink.errors import (
    DeviceDisconnectedError,
    DeviceError,
    DeviceResetError,
    IntegrityError,
    LinkError,
    LinkTimeoutError,
)

if TYPE_CHECKING:
    from drivers.reader.serial_reader import BridgeTestReader
    from drivers.reader.sim.reader import (
        SimulatedTestReader,
        SimulatorControls,
        SimulatorProcess,
        open_simulated_reader,
    )

#: Imported on first use: the serial link and the simulator are not needed to draw the
#: kiosk's first frame (the reader opens when a test starts), and cost ~0.15 s to import.
_LAZY = {
    "BridgeTestReader": "drivers.reader.serial_reader",
    "SimulatedTestReader": "drivers.reader.sim.reader",
    "SimulatorControls": "drivers.reader.sim.reader",
    "SimulatorProcess": "drivers.reader.sim.reader",
    "open_simulated_reader": "drivers.reader.sim.reader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AbsorbanceCurve",
    "BridgeTestReader",
    "CalibrationResult",
    "DeviceDisconnectedError",
    "DeviceError",
    "DeviceResetError",
    "EnzymeRun",
    "FirmwareUpdateError",
    "FlashProgress",
    "IntegrityError",
    "LinkError",
    "LinkTimeoutError",
    "ReaderHealth",
    "ReaderInfo",
    "SelfTestReport",
    "SimulatedTestReader",
    "SimulatorControls",
    "SimulatorProcess",
    "StripProfile",
    "TestReader",
    "open_simulated_reader",
    "open_test_reader",
]
