"""Line-quality measurement and the coding plan it picks (docs/protocol.md, "Version 2").

Pure arithmetic, no I/O. The receiver measures the byte error rate of what it hears
(`ErrorMeter`); a version-2 peer reports it back in every SACK, so each sender plans
for the direction it actually sends on. `plan()` then picks the Reed–Solomon parity
and the frame size that carry the most payload per line byte at that rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

# Parity bytes per Reed–Solomon codeword the sender may choose (even: t = nsym/2
# byte errors corrected per codeword). 0 is an uncoded frame.
NSYM_CHOICES = (0, 4, 8, 12, 16, 24, 32, 48)
MAX_NSYM = 64  # the largest a receiver accepts
RS_BLOCK = 255  # bytes per codeword, GF(2^8)
CODED_HEADER = 7  # A5 5C LEN SEQ TYPE NSYM HCRC
PLAIN_OVERHEAD = 10  # A5 5A LEN SEQ TYPE HCRC + CRC-32C
CRC_LEN = 4
# Smoothing of the measured rate: the weight of old bytes halves every HALF_LIFE
# bytes received (about 0.7 s of line at 115200 baud), fast enough to follow a
# compressor switching on, slow enough not to chase single frames.
HALF_LIFE_BYTES = 8192.0
# Bytes of an error-free prior folded into every estimate, so one bad frame at start
# does not read as a hopeless line.
PRIOR_BYTES = 256.0
# The rate a SACK can carry: errors per million bytes in a u16.
PPM_MAX = 0xFFFF


class ErrorMeter:
    """Exponentially weighted byte error rate of one receive direction.

    A frame whose CRC-32C checked (after any Reed–Solomon correction) counts its
    corrected bytes exactly; a frame that could not be repaired counts the errors
    expected given that it failed at the current rate (an EM step, so the estimate
    converges on the true rate even for uncoded frames). Frames whose header was hit
    are never seen and not counted: the estimate errs low by the header's share.
    """

    def __init__(self, half_life: float = HALF_LIFE_BYTES) -> None:
        self._decay = 0.5 ** (1.0 / half_life)
        self.errors = 0.0
        self.bytes = 0.0

    def _add(self, nbytes: int, errors: float) -> None:
        f = self._decay**nbytes
        self.errors = self.errors * f + errors
        self.bytes = self.bytes * f + nbytes

    def good(self, nbytes: int, corrected: int = 0) -> None:
        """A frame of `nbytes` that checked, after correcting `corrected` bytes."""
        self._add(nbytes, corrected)

    def failed(self, nbytes: int) -> None:
        """A frame of `nbytes` with a valid header that could not be repaired."""
        p = self.rate
        # Errors expected in the frame given that it has at least one.
        expected = 1.0 if p <= 0.0 else nbytes * p / max(1e-12, 1.0 - (1.0 - p) ** nbytes)
        self._add(nbytes, max(1.0, expected))

    @property
    def rate(self) -> float:
        """Byte error probability."""
        return min(0.5, self.errors / (self.bytes + PRIOR_BYTES))

    @property
    def ppm(self) -> int:
        """The rate as a SACK carries it."""
        return min(PPM_MAX, round(self.rate * 1e6))


@dataclass(frozen=True, slots=True)
class Plan:
    """What to send at one error rate: parity per codeword and the payload to aim for."""

    nsym: int
    payload: int
    efficiency: float  # expected payload bytes delivered per line byte


def coded_body_len(data_len: int, nsym: int) -> int:
    """Bytes after the coded header for `data_len` bytes of payload and CRC."""
    if nsym == 0:
        return data_len
    return data_len + nsym * math.ceil(data_len / (RS_BLOCK - nsym))


def split_blocks(data_len: int, nsym: int) -> list[int]:
    """Data bytes per codeword: as equal as possible, each at most 255 - nsym."""
    if nsym == 0 or data_len == 0:
        return [data_len]
    blocks = math.ceil(data_len / (RS_BLOCK - nsym))
    base, extra = divmod(data_len, blocks)
    return [base + (1 if i < extra else 0) for i in range(blocks)]


def _binom_le(n: int, t: int, p: float) -> float:
    """P(at most t of n bytes are hit) at byte error probability p."""
    if p <= 0.0:
        return 1.0
    q = 1.0 - p
    return sum(math.comb(n, k) * p**k * q ** (n - k) for k in range(min(n, t) + 1))


def frame_success(payload: int, nsym: int, p: float, coded: bool) -> float:
    """Probability that a frame of this shape arrives usable at byte error rate p."""
    if not coded:
        return (1.0 - p) ** (PLAIN_OVERHEAD + payload)
    ok = (1.0 - p) ** CODED_HEADER
    data = payload + CRC_LEN
    if nsym == 0:
        return ok * (1.0 - p) ** data
    for k in split_blocks(data, nsym):
        ok *= _binom_le(k + nsym, nsym // 2, p)
    return ok


def wire_len(payload: int, nsym: int, coded: bool) -> int:
    if not coded:
        return PLAIN_OVERHEAD + payload
    return CODED_HEADER + coded_body_len(payload + CRC_LEN, nsym)


def _bucket(p: float) -> int:
    """Rates within about 6 % of each other share a plan (and a cache entry)."""
    return _CLEAN if p <= 1e-7 else round(-math.log(p) * 16)


_CLEAN = 1 << 20


def _unbucket(b: int) -> float:
    return 0.0 if b == _CLEAN else math.exp(-b / 16)


@lru_cache(maxsize=4096)
def _nsym_for(bucket: int, payload: int) -> int:
    p = _unbucket(bucket)
    best, best_eff = 0, -1.0
    for nsym in NSYM_CHOICES:
        eff = payload / wire_len(payload, nsym, True) * frame_success(payload, nsym, p, True)
        if eff > best_eff + 1e-9:
            best, best_eff = nsym, eff
    return best


def choose_nsym(p: float, payload: int) -> int:
    """Parity per codeword that delivers a payload of this size most cheaply at rate p."""
    return _nsym_for(_bucket(p), payload)


@lru_cache(maxsize=1024)
def _plan(bucket: int, coded: bool, max_payload: int) -> Plan:
    p = _unbucket(bucket)
    sizes = sorted({*range(16, max_payload, 8), max_payload})
    best = Plan(0, max_payload, 0.0)
    for payload in sizes:
        for nsym in NSYM_CHOICES if coded else (0,):
            eff = payload / wire_len(payload, nsym, coded) * frame_success(payload, nsym, p, coded)
            if eff > best.efficiency + 1e-9:
                best = Plan(nsym, payload, eff)
    return best


def plan(p: float, coded: bool, max_payload: int) -> Plan:
    """The frame shape that carries the most payload per line byte at byte error rate p.

    Uncoded (a version-1 peer), only the size can adapt: at a 1e-3 bit-error rate
    about 40-byte frames. Coded, Reed–Solomon parity lets full frames through and the
    plan picks the least parity that does.
    """
    return _plan(_bucket(p), coded, max_payload)
