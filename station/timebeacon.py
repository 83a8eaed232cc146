"""The county's time beacon: sign the county's time and publish it retained, every
``interval_s`` (wire/timebeacon.py says what a kiosk does with it).

The beacon is published at QoS 0 and retained: a kiosk subscribed at QoS 0 gets each
one live (never queued while it was away, so a live beacon is a fresh one), and a kiosk
that connects gets the last one retained, which it only uses to notice a clock that is
behind. The process holds the county key, as the hold publisher does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from station.rounds import RoundPublisher
from wire.mqtt import BrokerSettings
from wire.signing import SigningKey
from wire.timebeacon import TimeBeacon
from wire.topics import time_topic

log = logging.getLogger(__name__)


class TimeBeaconPublisher(RoundPublisher):
    """``publish_once`` is one beacon (tests call it); ``start``/``stop`` the loop."""

    name = "time-beacon"

    def __init__(
        self,
        county: str,
        key: SigningKey,
        broker: BrokerSettings,
        clock: Callable[[], datetime],
        *,
        interval_s: int = 60,
    ) -> None:
        super().__init__(broker, interval_s)
        self.county = county
        self.key = key
        self.clock = clock
        self.published = 0

    def beacon(self) -> dict[str, str]:
        return TimeBeacon(self.county, self.clock(), int(self.interval_s)).sign(self.key)

    def publish_once(self) -> None:
        payload = json.dumps(self.beacon()).encode("utf-8")
        info = self._mqtt().publish(
            time_topic(self.broker.prefix, self.county), payload, qos=0, retain=True
        )
        info.wait_for_publish(10)
        self.published += 1

    round = publish_once
