"""Byte links to a printer: USB, serial, TCP 9100 or a device file.

(A simulated printer's in-process link lives with the simulator, ``printer.sim``.)
"""

from __future__ import annotations

from drivers.printer.transports.base import Transport, TransportError
from drivers.printer.transports.settings import TransportSettings

__all__ = ["Transport", "TransportError", "TransportSettings", "make_transport"]


def make_transport(settings: TransportSettings) -> Transport:
    """The (unopened) transport ``settings`` describe."""
    kind = settings.kind
    if kind == "usb":
        from drivers.printer.transports.usb import UsbTransport

        return UsbTransport(
            settings.vendor_id,
            settings.product_id,
            interface=settings.usb_interface,
            in_endpoint=settings.usb_in_endpoint,
            out_endpoint=settings.usb_out_endpoint,
            timeout_s=settings.timeout_s,
        )
    if kind == "serial":
        from drivers.printer.transports.serial_port import SerialTransport

        if not settings.serial_port:
            raise ValueError("serial_port is required for a serial printer")
        return SerialTransport(
            settings.serial_port,
            baudrate=settings.baudrate,
            flow_control=settings.flow_control,
            timeout_s=settings.timeout_s,
        )
    if kind == "network":
        from drivers.printer.transports.escpos_connection import NetworkTransport

        if not settings.host:
            raise ValueError("host is required for a network printer")
        return NetworkTransport(settings.host, settings.port, timeout_s=settings.timeout_s)
    if kind == "file":
        from drivers.printer.transports.escpos_connection import FileTransport

        return FileTransport(settings.device_file)
    if kind == "simulated":
        raise ValueError("a simulated printer has no transport: open it with open_label_printer")
    raise ValueError(f"unknown transport kind {kind!r}; use simulated, usb, serial, network, file")
