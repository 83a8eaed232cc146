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
import threading
from collections.abc import Callable
from datetime import datetime

from wire.mqtt import BrokerError, BrokerSettings, Client, close, connect
from wire.signing import SigningKey
from wire.timebeacon import TimeBeacon
from wire.topics import time_topic

log = logging.getLogger(__name__)


class TimeBeaconPublisher:
    """``publish_once`` is one beacon (tests call it); ``start``/``stop`` the loop."""

    def __init__(
        self,
        county: str,
        key: SigningKey,
        broker: BrokerSettings,
        clock: Callable[[], datetime],
        *,
        interval_s: int = 60,
    ) -> None:
        self.county = county
        self.key = key
        self.broker = broker
        self.clock = clock
        self.interval_s = interval_s
        self.published = 0
        self._client: Client | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beacon(self) -> dict[str, str]:
        return TimeBeacon(self.county, self.clock(), self.interval_s).sign(self.key)

    def publish_once(self) -> None:
        if self._client is None:
            self._client = connect(self.broker)
        payload = json.dumps(self.beacon()).encode("utf-8")
        info = self._client.publish(
            time_topic(self.broker.prefix, self.county), payload, qos=0, retain=True
        )
        info.wait_for_publish(10)
        self.published += 1

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish_once()
            except (BrokerError, OSError, RuntimeError) as error:
                log.warning("time beacon not published, will retry: %s", error)
                if self._client is not None:
                    close(self._client)
                    self._client = None
            self._stop.wait(self.interval_s)

    def start(self) -> TimeBeaconPublisher:
        self._thread = threading.Thread(target=self.run, name="time-beacon", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._client is not None:
            close(self._client)
            self._client = None

    def __enter__(self) -> TimeBeaconPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
