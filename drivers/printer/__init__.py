"""Label and receipt printers: ESC/POS and TSPL over USB, serial, TCP or a device file.

``open_label_printer(profile, TransportSettings(...))`` is the entry point; profiles are
listed in ``profiles.PROFILES``; ``sim.SimulatedPrinter`` is the simulated device and
``sim.SimulatedLabelPrinter`` the printer the kiosk uses in simulation.
"""

from drivers.printer.base import (
    LabelPrinter,
    PrinterError,
    PrinterFault,
    PrinterStatus,
    ProgressCallback,
)
from drivers.printer.factory import open_label_printer
from drivers.printer.profiles import PROFILES, PrinterProfile, UnknownProfileError, get_profile
from drivers.printer.transports import TransportError, TransportSettings

__all__ = [
    "PROFILES",
    "LabelPrinter",
    "PrinterError",
    "PrinterFault",
    "PrinterProfile",
    "PrinterStatus",
    "ProgressCallback",
    "TransportError",
    "TransportSettings",
    "UnknownProfileError",
    "get_profile",
    "open_label_printer",
]
