"""A printer simulated at the transport seam: it reads the real byte stream."""

from drivers.printer.sim.device import PrintedLabel, SimulatedPrinter
from drivers.printer.sim.printer import SimulatedLabelPrinter, open_simulated_printer
from drivers.printer.sim.servers import PtyPrinterServer, TcpPrinterServer

__all__ = [
    "PrintedLabel",
    "PtyPrinterServer",
    "SimulatedLabelPrinter",
    "SimulatedPrinter",
    "TcpPrinterServer",
    "open_simulated_printer",
]
