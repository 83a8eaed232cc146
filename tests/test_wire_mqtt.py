"""wire/mqtt.py against a real Mosquitto: sessions, and reconnects that do not stampede.

TLS and logins through the factory are tested with the deployment's broker setup in
test_uplink_tls.py and test_uplink_security.py.
"""

from __future__ import annotations

import threading
import time

from support.mqtt_broker import broker_factory  # noqa: F401  (pytest fixture)
from support.provisioning import enrolled_config, headless_listener
from support.uplink import collector_settings, wait_until

from station.collector import Collector
from wire.mqtt import (
    BrokerSettings,
    Client,
    close,
    connect,
    jittered_backoff,
    publish_and_wait,
)

#: Clients of each kind restarted together in the reconnect test.
CLIENTS = 6
#: Reconnects closer together than this count as one instant. With the 1 s minimum
#: the first retry falls uniformly in 0.5..1 s, so six clients all landing inside
#: 50 ms has odds of about 1 in 18 000; without jitter they land within a few ms.
LOCKSTEP_S = 0.05


def test_backoff_is_jittered_and_capped() -> None:
    delays = [jittered_backoff(n, 1.0, 60.0) for n in range(12)]
    assert all(0.5 <= d <= 60.0 for d in delays)
    assert max(delays[8:]) > 29.0
    assert len({round(jittered_backoff(3, 1.0, 60.0), 6) for _ in range(20)}) > 1


def _session_client(port: int, client_id: str, expiry: int | None) -> tuple[Client, list, list]:
    """A connected client, the session-present flags of its CONNACKs, its messages."""
    present: list[bool] = []
    messages: list[bytes] = []
    client = connect(
        BrokerSettings(port=port, client_id=client_id, session_expiry_s=expiry),
        on_connect=lambda _c, _u, flags, _rc, _p: present.append(flags.session_present),
        on_message=lambda _c, _u, m: messages.append(m.payload),
    )
    return client, present, messages


def test_session_expiry_keeps_subscriptions_and_messages_while_away(broker_factory):  # noqa: F811
    broker = broker_factory()
    topic = "agriqs/v1/330100/K001/cmd/diagnostics"
    for client_id, expiry in (("kept", 300), ("clean", None)):
        client, present, _ = _session_client(broker.port, client_id, expiry)
        subscribed = threading.Event()
        client.on_subscribe = lambda *_a, s=subscribed: s.set()
        client.subscribe(topic, qos=1)
        assert subscribed.wait(5)
        assert present == [False]
        close(client)

    county = connect(BrokerSettings(port=broker.port, client_id="county"))
    publish_and_wait(county, topic, b"while you were away")
    close(county)

    kept, present, messages = _session_client(broker.port, "kept", 300)
    wait_until(lambda: messages, 5, "the queued message")
    assert present == [True] and messages == [b"while you were away"]
    close(kept)
    clean, present, messages = _session_client(broker.port, "clean", None)
    time.sleep(0.3)
    assert present == [False] and messages == []
    close(clean)


def test_listeners_and_collectors_reconnect_with_jitter(tmp_path, broker_factory):  # noqa: F811
    """A broker restart drops everyone at once; they must not all come back at once."""
    broker = broker_factory()
    uplink = {"host": "127.0.0.1", "port": broker.port}
    listeners, stores, collectors = [], [], []
    for n in range(CLIENTS):
        config = enrolled_config(tmp_path / f"kiosk{n}", device=f"K{n:03d}", uplink=uplink)
        listener, store = headless_listener(config)
        listeners.append(listener)
        stores.append(store)
        # The kiosks' reconnect minimum (1 s); the collector's own default is 0.5 s.
        settings = collector_settings(broker.port, client_id=f"col-{n}", reconnect_min_s=1.0)
        collectors.append(Collector(settings, tmp_path / f"station{n}.db"))
    probes = {f"listener{n}": (lambda x=x: x.stats.connected) for n, x in enumerate(listeners)}
    probes |= {f"collector{n}": (lambda x=x: x.stats().connected) for n, x in enumerate(collectors)}
    try:
        for client in [*listeners, *collectors]:
            client.start()
        wait_until(lambda: all(p() for p in probes.values()), 10, "everyone connected")

        broker.stop()
        wait_until(lambda: not any(p() for p in probes.values()), 5, "everyone dropped")
        broker.start()
        back: dict[str, float] = {}
        deadline = time.monotonic() + 15
        while len(back) < len(probes) and time.monotonic() < deadline:
            now = time.monotonic()
            back |= {name: now for name, probe in probes.items() if name not in back and probe()}
            time.sleep(0.002)
    finally:
        for listener in listeners:
            listener.stop()
        for collector in collectors:
            collector.close()
        for store in stores:
            store.close()
    assert set(back) == set(probes), f"not back: {set(probes) - set(back)}"
    for kind in ("listener", "collector"):
        times = sorted(t for name, t in back.items() if name.startswith(kind))
        spread = times[-1] - times[0]
        assert spread > LOCKSTEP_S, f"{kind}s reconnected in lockstep ({spread * 1000:.0f} ms)"
