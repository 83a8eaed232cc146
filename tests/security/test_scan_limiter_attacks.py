"""Red-team attacks on the scan page's per-address limiter (station/web/ratelimit.py).

An attacker holding an IPv6 /64 (what any home or cloud line is given) can send each
request from another address: keyed by the full address, every request was the first
of its own window (no limit at all) and left an entry behind until the window ended, so
a minute of such a flood grew the table without bound. The limiter now counts an IPv6
/64 as one address and keeps at most ``max_keys`` addresses."""

from __future__ import annotations

import ipaddress

from station.web.ratelimit import WindowLimiter, address_key


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rotating_addresses_inside_one_ipv6_64_is_one_address() -> None:
    limiter = WindowLimiter(5, 60.0, clock=Ticks())
    net = ipaddress.ip_network("2001:db8:1:2::/64")
    answers = [limiter.hit(address_key(str(net[n * 7919 + 1]))) for n in range(20)]
    assert answers == [True] * 5 + [False] * 15
    assert len(limiter) == 1
    # Another /64 is another household; IPv4 and IPv4-mapped IPv6 are one address each.
    assert limiter.hit(address_key("2001:db8:1:3::1"))
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("unknown") == "unknown"  # no client: one shared key, as before


def test_a_flood_of_distinct_addresses_in_one_window_stays_bounded() -> None:
    ticks = Ticks()
    limiter = WindowLimiter(3, 60.0, clock=ticks, max_keys=1_000)
    for n in range(20_000):  # all inside one window: the sweep frees nothing
        ticks.now = n * 0.001
        assert limiter.hit(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
    assert len(limiter) <= 1_000
    # An address hammering during the flood is still counted and refused.
    hammer = [limiter.hit("198.51.100.9") for _ in range(5)]
    assert hammer == [True, True, True, False, False]
