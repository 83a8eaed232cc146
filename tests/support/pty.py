"""A raw pty behind a stable symlink: the far end of a USB serial device in tests.

pyserial opens the link exactly as it opens ``/dev/serial/by-id/usb-...`` on the
kiosk; ``unplug()`` closes the pty as a pulled cable does, and a new ``Pty`` on the
same link is the device re-enumerated.
"""

from __future__ import annotations

import contextlib
import os
import tty
from pathlib import Path


class Pty:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation: a binary line
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))
        self.plugged = True

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        """Close both ends; safe to call twice."""
        if not self.plugged:
            return
        self.plugged = False
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
