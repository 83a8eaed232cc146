"""The rapid-test reader: ``TestReader`` and how to open one.

with open_test_reader(kind="simulated", time_scale=60) as reader:
    run = reader.run_enzyme([0, 1], duration_s=180)
"""

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
from drivers.reader.serial_reader import BridgeTestReader
from drivers.reader.sim.reader import (
    SimulatedTestReader,
    SimulatorControls,
    SimulatorProcess,
    open_simulated_reader,
)
from readerlink.errors import (
    DeviceDisconnectedError,
    DeviceError,
    DeviceResetError,
    IntegrityError,
    LinkError,
    LinkTimeoutError,
)

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
