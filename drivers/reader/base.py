"""The ``TestReader`` seam: what the kiosk may ask of the rapid-test reader.

The reader returns raw data only (absorbance curves, strip line profiles, health
figures). Verdicts (inhibition %, T/C ratio, cut-offs) belong to the kiosk's rapid-test
service, because they depend on the kit and the standard in force, not on the part.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography, only needed when firmware is flashed
    from readerlink.firmware_image import SignedFirmware

#: Called as bytes of a firmware image are handed to the link: (bytes_done, bytes_total).
FlashProgress = Callable[[int, int], None]


class FirmwareUpdateError(RuntimeError):
    """The reader did not end up running the new image; it still runs the old one."""


@dataclass(frozen=True)
class ReaderInfo:
    """The handshake: who the reader is and what it can do."""

    protocol_version: int
    firmware_version: str
    serial_number: str
    channels: int
    capabilities: frozenset[str]
    blank_calibrated: bool
    reference_calibrated: bool
    calibration_age_s: int | None
    boot_id: int
    active_slot: int
    boot_reason: str


@dataclass(frozen=True)
class SelfTestReport:
    passed: bool
    failures: tuple[str, ...]
    lamp_relative: float  # LED output against new, 1.0 = new
    dark_counts: int
    temperature_c: float


@dataclass(frozen=True)
class CalibrationResult:
    kind: str  # "blank" (values are detector counts) or "reference" (absorbance read)
    values: dict[int, float]


@dataclass(frozen=True)
class ReaderHealth:
    lamp_relative: float
    lamp_hours: float
    temperature_c: float
    temperature_ok: bool  # within 25 ± 2 °C, where GB/T 5009.199 wants the assay


@dataclass(frozen=True)
class AbsorbanceCurve:
    """One channel's absorbance at 412 nm over the run."""

    channel: int
    times_s: tuple[float, ...]
    absorbance: tuple[float, ...]


@dataclass(frozen=True)
class EnzymeRun:
    run_id: int
    curves: dict[int, AbsorbanceCurve]
    temperatures_c: tuple[float, ...]  # block temperature at each time point


@dataclass(frozen=True)
class StripProfile:
    """Line darkness along the strip, one value per step (T and C peaks in it)."""

    run_id: int
    step_mm: float
    intensities: tuple[int, ...]


class TestReader(ABC):
    """One enzyme-inhibition photometer and colloidal-gold strip reader.

    ``close()`` is idempotent; use as a context manager. Every method raises a
    ``readerlink.errors.LinkError`` subclass when the part fails or goes away.
    """

    __test__ = False  # not a pytest test class, despite the name

    #: Device seconds per wall-clock second: 1 for real hardware; a simulated reader
    #: runs its chemistry faster, and countdowns shown to people must follow it.
    time_scale: float = 1.0

    @abstractmethod
    def info(self) -> ReaderInfo:
        """Handshake data, asked afresh."""

    @abstractmethod
    def self_test(self) -> SelfTestReport: ...

    @abstractmethod
    def calibrate_blank(self, channels: Sequence[int] | None = None) -> CalibrationResult:
        """Store the blank (buffer cuvettes in) for these channels (all when None)."""

    @abstractmethod
    def calibrate_reference(self, channels: Sequence[int] | None = None) -> CalibrationResult:
        """Read the reference filter and store each channel's gain correction."""

    @abstractmethod
    def health(self) -> ReaderHealth: ...

    @abstractmethod
    def run_enzyme(
        self,
        channels: Sequence[int],
        duration_s: float = 180.0,
        interval_s: float = 10.0,
        timeout: float | None = None,
    ) -> EnzymeRun:
        """Read absorbance on `channels` every `interval_s` for `duration_s`."""

    @abstractmethod
    def read_strip(self, timeout: float | None = None) -> StripProfile:
        """Scan the inserted strip and return its raw line profile."""

    @abstractmethod
    def flash_firmware(
        self, firmware: SignedFirmware, progress: FlashProgress | None = None
    ) -> ReaderInfo:
        """Install a signed image through the bootloader; returns the new handshake."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> TestReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
