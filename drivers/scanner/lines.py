"""The pure decoder for a serial (CDC ACM / UART) scanner: bytes in, whole codes out.

A serial scanner sends the code as ASCII followed by CR, LF or CR LF. Printable ASCII
(0x20-0x7E) is accepted; any other byte spoils the code it belongs to.
"""

from __future__ import annotations

from drivers.scanner.burst import DEFAULT_RULES, BurstAssembler, BurstRules

_CR, _LF = 0x0D, 0x0A


class LineDecoder:
    """Feeds bytes with their arrival time (one monotonic clock) and returns finished codes."""

    def __init__(
        self, rules: BurstRules = DEFAULT_RULES, *, source: str = "serial scanner"
    ) -> None:
        self._burst = BurstAssembler(rules, source=source)

    @property
    def dropped(self) -> int:
        return self._burst.dropped

    def feed(self, data: bytes, t: float) -> list[str]:
        codes: list[str] = []
        for byte in data:
            if byte in (_CR, _LF):
                code = self._burst.terminate(t)
                if code:
                    codes.append(code)
            elif 0x20 <= byte <= 0x7E:
                self._burst.add(chr(byte), t)
            else:
                self._burst.spoil(f"byte 0x{byte:02x} is not printable ASCII", t)
        return codes

    def expire(self, now: float) -> bool:
        return self._burst.expire(now)

    def reset(self, reason: str = "port closed") -> None:
        self._burst.reset(reason)
