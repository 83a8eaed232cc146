"""USB bulk transport through pyusb: configurable interface and endpoints.

python-escpos's ``Usb`` hard-codes interface 0, reads without a timeout and only logs a
failed ``set_configuration`` (so a missing udev rule shows up later as an obscure write
error). This thin transport claims the configured interface and names the udev rule.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import Any

import usb.core
import usb.util

from drivers.printer.transports.base import Transport, TransportError

log = logging.getLogger(__name__)

UDEV_RULE = (
    'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{vendor:04x}", ATTR{{idProduct}}=="{product:04x}", '
    'MODE="0660", GROUP="lp"'
)
#: pyusb wants milliseconds; 0 would mean "forever".
MIN_TIMEOUT_MS = 1


def _ms(seconds: float) -> int:
    return max(MIN_TIMEOUT_MS, int(seconds * 1000))


class UsbTransport(Transport):
    def __init__(
        self,
        vendor: int,
        product: int,
        *,
        interface: int = 0,
        in_endpoint: int = 0x81,
        out_endpoint: int = 0x03,
        timeout_s: float = 2.0,
        find: Callable[..., Any] = usb.core.find,
    ) -> None:
        self.vendor, self.product = vendor, product
        self.interface = interface
        self.in_endpoint, self.out_endpoint = in_endpoint, out_endpoint
        self.timeout_s = timeout_s
        self._find = find
        self._device: Any = None
        self.description = f"usb {vendor:04x}:{product:04x}"

    def _permission_error(self) -> TransportError:
        rule = UDEV_RULE.format(vendor=self.vendor, product=self.product)
        return TransportError(
            f"permission denied opening {self.description}: add the udev rule\n  {rule}\n"
            "to /etc/udev/rules.d/60-label-printer.rules, run "
            "`udevadm control --reload && udevadm trigger`, and add the kiosk user to group lp"
        )

    def open(self) -> None:
        if self._device is not None:
            return
        try:
            device = self._find(idVendor=self.vendor, idProduct=self.product)
        except usb.core.NoBackendError:
            raise TransportError(
                "pyusb found no libusb backend: apt-get install libusb-1.0-0"
            ) from None
        if device is None:
            raise TransportError(
                f"no USB printer {self.vendor:04x}:{self.product:04x} found: "
                "check the cable and power, and `lsusb` for the ids"
            )
        try:
            try:
                if device.is_kernel_driver_active(self.interface):
                    # usblp owns the printer; detach so we can claim it (or use kind="file").
                    device.detach_kernel_driver(self.interface)
            except NotImplementedError:
                pass
            try:
                device.set_configuration()
            except usb.core.USBError as exc:
                if exc.errno != errno.EBUSY:  # already configured by someone: fine
                    raise
            usb.util.claim_interface(device, self.interface)
        except usb.core.USBError as exc:
            if exc.errno == errno.EACCES:
                raise self._permission_error() from exc
            raise TransportError(f"cannot open {self.description}: {exc}") from exc
        self._device = device
        log.info(
            "opened %s (interface %d, in 0x%02x, out 0x%02x)",
            self.description,
            self.interface,
            self.in_endpoint,
            self.out_endpoint,
        )

    def write(self, data: bytes) -> None:
        if self._device is None:
            raise TransportError(f"{self.description} is not open")
        sent = 0
        while sent < len(data):
            try:
                n = self._device.write(self.out_endpoint, data[sent:], _ms(self.timeout_s))
            except usb.core.USBTimeoutError as exc:
                raise TransportError(
                    f"{self.description}: write timed out after {sent} of {len(data)} bytes"
                ) from exc
            except usb.core.USBError as exc:
                if exc.errno == errno.EACCES:
                    raise self._permission_error() from exc
                raise TransportError(f"{self.description}: write failed: {exc}") from exc
            if n <= 0:
                raise TransportError(f"{self.description}: endpoint accepted no bytes")
            sent += n

    def read(self, size: int, timeout_s: float) -> bytes:
        if self._device is None:
            raise TransportError(f"{self.description} is not open")
        try:
            return bytes(self._device.read(self.in_endpoint, max(size, 64), _ms(timeout_s)))[:size]
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            raise TransportError(f"{self.description}: read failed: {exc}") from exc

    def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            usb.util.release_interface(device, self.interface)
        except usb.core.USBError as exc:
            log.warning("releasing %s: %s", self.description, exc)
        usb.util.dispose_resources(device)
