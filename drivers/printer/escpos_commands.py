"""ESC/POS command bytes used by the encoder, the status reader and the simulator."""

from __future__ import annotations

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
EOT = b"\x04"
LF = b"\n"

INIT = ESC + b"@"  # ESC @: reset modes, clear the buffer
CHINESE_ON = FS + b"&"  # FS &: two-byte (GB18030) character mode on
CHINESE_OFF = FS + b"."  # FS .: two-byte character mode off
CHAR_SIZE = GS + b"!"  # GS ! n: bits 4-7 width x, bits 0-3 height x (0 = normal)
BOLD = ESC + b"E"  # ESC E n: emphasised on (1) / off (0)
ABS_POSITION = ESC + b"$"  # ESC $ nL nH: horizontal print position in dots from the left
LINE_SPACING = ESC + b"3"  # ESC 3 n: line spacing n dots (1-dot vertical unit at 203 dpi)
LINE_SPACING_DEFAULT = ESC + b"2"  # ESC 2: default line spacing
FEED_DOTS = ESC + b"J"  # ESC J n: print the buffer and feed n dots
RASTER = GS + b"v0"  # GS v 0 m xL xH yL yH d...: raster bit image, row-major, MSB left
COLUMN_IMAGE = ESC + b"*"  # ESC * m nL nH d...: column bit image; m=33 is 24-dot double density
QR_2D = GS + b"(k"  # GS ( k pL pH cn fn ...: 2D codes; cn=49 ('1') is QR
CUT_PARTIAL = GS + b"V\x01"  # GS V 1: partial cut; ends one label/receipt
RT_STATUS = DLE + EOT  # DLE EOT n: real-time status, answered with one byte even when busy

#: DLE EOT n values.
STATUS_PRINTER = 1  # bit 3: offline
STATUS_OFFLINE_CAUSE = 2  # bit 2 cover open, bit 5 stopped by paper end, bit 6 error
STATUS_ERROR_CAUSE = 3  # bit 3 cutter error, bit 5 unrecoverable, bit 6 auto-recoverable
STATUS_PAPER = 4  # bits 2-3 paper near end, bits 5-6 paper end

#: Bits 1 and 4 are always set in a DLE EOT reply; bit 0 and 7 are always clear.
STATUS_FIXED = 0x12
STATUS_FIXED_MASK = 0x93

#: GS ( k function numbers for QR (cn = '1').
QR_FN_MODEL = 65
QR_FN_MODULE = 67
QR_FN_ERROR = 69
QR_FN_STORE = 80
QR_FN_PRINT = 81
QR_ERROR_LEVELS = {"L": 48, "M": 49, "Q": 50, "H": 51}


def u16(value: int) -> bytes:
    """Little-endian nL nH as ESC/POS wants."""
    return bytes((value & 0xFF, value >> 8))
