"""Where the printer is: the kiosk's ``[printer.transport]`` config maps onto this 1:1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TransportKind = Literal["simulated", "usb", "serial", "network", "file"]
FlowControl = Literal["none", "rtscts", "xonxoff", "dsrdtr"]


@dataclass(frozen=True)
class TransportSettings:
    kind: TransportKind = "simulated"
    usb_vendor: str | None = None  # hex, e.g. "0x0483" or "0483"
    usb_product: str | None = None
    usb_interface: int = 0
    usb_in_endpoint: int = 0x81
    usb_out_endpoint: int = 0x03  # many cheap printers use 0x02 or 0x03
    serial_port: str | None = None
    baudrate: int = 9600
    flow_control: FlowControl = "none"
    host: str | None = None
    port: int = 9100
    device_file: str = "/dev/usb/lp0"
    timeout_s: float = 2.0

    @property
    def vendor_id(self) -> int:
        return _hex(self.usb_vendor, "usb_vendor")

    @property
    def product_id(self) -> int:
        return _hex(self.usb_product, "usb_product")


def _hex(value: str | None, name: str) -> int:
    if not value:
        raise ValueError(f"{name} is required for a USB printer (hex, e.g. 0x0483)")
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a hex USB id") from None
