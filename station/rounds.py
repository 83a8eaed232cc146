"""A county publisher that works in rounds on its own thread.

The hold publisher and the time beacon both sign something and publish it retained,
every ``interval_s``; a round that fails (broker away, store busy) is retried the next
round on a fresh connection, so a publisher never dies of one bad round.
"""

from __future__ import annotations

import logging
import threading
from typing import Self

from wire.mqtt import BrokerError, BrokerSettings, Client, close, connect

log = logging.getLogger(__name__)


class RoundPublisher:
    """``round()`` is one round (tests call it directly); ``start``/``stop`` the loop."""

    #: The thread's name, and what the log says was not published.
    name = "publisher"

    def __init__(self, broker: BrokerSettings, interval_s: float) -> None:
        self.broker = broker
        self.interval_s = interval_s
        self._client: Client | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def round(self) -> object:
        raise NotImplementedError

    def _mqtt(self) -> Client:
        if self._client is None:
            self._client = connect(self.broker)
        return self._client

    def _drop_client(self) -> None:
        if self._client is not None:
            close(self._client)
            self._client = None

    def _drop_resources(self) -> None:
        """After a round failed for another reason than the broker: reopen what it used."""

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except (BrokerError, OSError) as error:
                log.warning("%s not published, will retry: %s", self.name, error)
                self._drop_client()
            except Exception:
                log.exception("%s round failed, will retry", self.name)
                self._drop_client()
                self._drop_resources()
            self._stop.wait(self.interval_s)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._drop_client()
        self._drop_resources()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
