"""Real-time status: the query bytes, and the reply bytes turned into ``PrinterStatus``.

ESC/POS ``DLE EOT n`` answers one byte per n (1 printer, 2 offline cause, 3 error
cause, 4 paper sensor). TSPL ``<ESC>!?`` answers one byte of flag bits. Both are
answered by the printer at once, even mid-job; a printer that stays silent is offline.
"""

from __future__ import annotations

import logging
import time

from drivers.printer import escpos_commands as C
from drivers.printer import tspl_commands as T
from drivers.printer.base import PrinterStatus
from drivers.printer.transports.base import Transport, TransportError

log = logging.getLogger(__name__)

UNKNOWN = PrinterStatus(known=False)
NO_ANSWER = PrinterStatus(online=False)

# DLE EOT reply bits.
ESCPOS_OFFLINE = 0x08  # n=1
ESCPOS_COVER_OPEN = 0x04  # n=2
ESCPOS_STOPPED_PAPER_END = 0x20  # n=2
ESCPOS_ERROR = 0x40  # n=2
ESCPOS_CUTTER_ERROR = 0x08  # n=3
ESCPOS_UNRECOVERABLE = 0x20  # n=3
ESCPOS_AUTO_RECOVERABLE = 0x40  # n=3 (head overheat)
ESCPOS_PAPER_NEAR_END = 0x0C  # n=4
ESCPOS_PAPER_END = 0x60  # n=4


def _valid(byte: int | None) -> bool:
    return byte is None or byte & C.STATUS_FIXED_MASK == C.STATUS_FIXED


def parse_escpos_status(
    printer: int | None,
    offline_cause: int | None = None,
    error_cause: int | None = None,
    paper: int | None = None,
) -> PrinterStatus:
    """Combine DLE EOT 1..4 replies (None = not asked). No reply to n=1 means offline."""
    if printer is None:
        return NO_ANSWER
    if not all(_valid(b) for b in (printer, offline_cause, error_cause, paper)):
        log.warning("malformed DLE EOT reply %r", (printer, offline_cause, error_cause, paper))
        return PrinterStatus(error=True)
    oc, ec, pp = offline_cause or 0, error_cause or 0, paper or 0
    cover_open = bool(oc & ESCPOS_COVER_OPEN)
    paper_out = bool(oc & ESCPOS_STOPPED_PAPER_END) or pp & ESCPOS_PAPER_END == ESCPOS_PAPER_END
    paper_low = pp & ESCPOS_PAPER_NEAR_END == ESCPOS_PAPER_NEAR_END
    error = bool(oc & ESCPOS_ERROR) or bool(
        ec & (ESCPOS_CUTTER_ERROR | ESCPOS_UNRECOVERABLE | ESCPOS_AUTO_RECOVERABLE)
    )
    offline = bool(printer & ESCPOS_OFFLINE)
    # An offline printer that names its cause is reported by that cause, not as OFFLINE.
    online = not offline or cover_open or paper_out or error
    return PrinterStatus(
        online=online, paper_out=paper_out, paper_low=paper_low, cover_open=cover_open, error=error
    )


def parse_tspl_status(byte: int | None) -> PrinterStatus:
    """One ``<ESC>!?`` reply byte; None (no answer) is offline. PAUSE counts as offline."""
    if byte is None:
        return NO_ANSWER
    return PrinterStatus(
        online=not byte & T.ST_PAUSE,
        paper_out=bool(byte & T.ST_PAPER_OUT),
        cover_open=bool(byte & T.ST_HEAD_OPEN),
        error=bool(byte & (T.ST_PAPER_JAM | T.ST_RIBBON_OUT | T.ST_OTHER_ERROR)),
    )


def tspl_printing(byte: int | None) -> bool:
    return byte is not None and bool(byte & T.ST_PRINTING)


def _discard(transport: Transport) -> bool:
    """Drop stale replies; False when the link itself failed (closed, unplugged)."""
    try:
        transport.discard_input()
    except TransportError as exc:
        log.warning("status query failed: %s", exc)
        return False
    return True


def _ask(transport: Transport, query: bytes, timeout_s: float) -> int | None:
    """Send one query and return the one-byte answer, or None if none came in time."""
    try:
        transport.write(query)
        reply = transport.read(1, timeout_s)
    except TransportError as exc:
        log.warning("status query failed: %s", exc)
        return None
    return reply[0] if reply else None


def query_escpos(transport: Transport, timeout_s: float) -> PrinterStatus:
    if not transport.can_read:
        return UNKNOWN
    if not _discard(transport):
        return NO_ANSWER
    printer = _ask(transport, C.RT_STATUS + bytes((C.STATUS_PRINTER,)), timeout_s)
    if printer is None:
        return NO_ANSWER
    paper = _ask(transport, C.RT_STATUS + bytes((C.STATUS_PAPER,)), timeout_s)
    offline_cause = error_cause = None
    if printer & ESCPOS_OFFLINE:
        offline_cause = _ask(transport, C.RT_STATUS + bytes((C.STATUS_OFFLINE_CAUSE,)), timeout_s)
        error_cause = _ask(transport, C.RT_STATUS + bytes((C.STATUS_ERROR_CAUSE,)), timeout_s)
    return parse_escpos_status(printer, offline_cause, error_cause, paper)


def query_tspl_byte(transport: Transport, timeout_s: float) -> int | None:
    if not _discard(transport):
        return None
    return _ask(transport, T.STATUS_QUERY, timeout_s)


def query_tspl(transport: Transport, timeout_s: float) -> PrinterStatus:
    if not transport.can_read:
        return UNKNOWN
    return parse_tspl_status(query_tspl_byte(transport, timeout_s))


def wait_tspl_idle(
    transport: Transport, timeout_s: float, wait_s: float, poll_s: float = 0.05
) -> PrinterStatus:
    """Poll until the printer stops printing (bit 5 clear), a fault shows, or ``wait_s`` passes."""
    if not transport.can_read:
        return UNKNOWN
    deadline = time.monotonic() + wait_s
    while True:
        byte = query_tspl_byte(transport, timeout_s)
        status = parse_tspl_status(byte)
        if status.fault or not tspl_printing(byte) or time.monotonic() >= deadline:
            if tspl_printing(byte) and not status.fault:
                log.warning("printer still printing after %.1f s", wait_s)
            return status
        time.sleep(poll_s)
