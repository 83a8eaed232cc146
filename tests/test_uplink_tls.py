"""TLS with client certificates: the certificate's CN is the kiosk's identity.

The broker listens twice, as in docs/deploy/mosquitto/mosquitto.conf: TLS with
``use_identity_as_username`` for kiosks, and a loopback password listener for the
collector. The ACL is the deployed one, so the CN "330100/K001" must match the
``%u`` patterns exactly for anything to arrive. Every kind of client (uplink,
provisioning listener, collector, station CLI) gets its TLS from wire/mqtt.py.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from support.mqtt_broker import Broker, broker_factory, free_port  # noqa: F401  (fixture)
from support.provisioning import enrolled_config, headless_listener
from support.uplink import (
    collector_settings,
    deploy_acl,
    enqueue_many,
    open_kiosk,
    wait_until,
)

from kiosk.infra.uplink import Uplink, UplinkSettings
from station.collector import Collector
from wire.mqtt import BrokerError, BrokerSettings, TlsSettings, close, connect, publish_and_wait

ACCOUNTS = """
kiosk      330100/K001
collector  collector-330100 330100
county     county-330100 330100
"""
#: Client certificates made by ``make_pki``: file stem and CN (the broker username).
CLIENTS = {"k001": "330100\\/K001", "county": "county-330100", "collector": "collector-330100"}


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """A county CA, a server certificate for 127.0.0.1, the clients' certificates, and
    a CA the broker does not use (``other-ca.crt``)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca, cn in (("ca", "Test County CA"), ("other-ca", "Someone Else")):
        _openssl("req", "-x509", *ec, "-keyout", str(d / f"{ca}.key"),
                 "-out", str(d / f"{ca}.crt"), "-subj", f"/CN={cn}", "-days", "2")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject, ext in (
        ("server", "/CN=127.0.0.1", ["-extfile", str(d / "san.ext")]),
        *((name, f"/CN={cn}", []) for name, cn in CLIENTS.items()),
    ):
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                 "-subj", subject)  # fmt: skip
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                 "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                 "-out", str(d / f"{name}.crt"), *ext)  # fmt: skip


def tls_broker(tmp_path: Path, broker_factory) -> tuple[Broker, int, Path]:  # noqa: F811
    """(broker, TLS port, pki directory): the deployment's two listeners."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    tls_port = free_port()
    broker = broker_factory(
        acl=deploy_acl(tmp_path / "acl", ACCOUNTS),
        passwords={"collector-330100": "pw-col"},
        extra_config="\n".join(
            [
                f"listener {tls_port} 127.0.0.1",
                f"cafile {pki / 'ca.crt'}",
                f"certfile {pki / 'server.crt'}",
                f"keyfile {pki / 'server.key'}",
                "require_certificate true",
                "use_identity_as_username true",
            ]
        ),
    )
    return broker, tls_port, pki


def tls(pki: Path, name: str | None, ca: str = "ca") -> TlsSettings:
    return TlsSettings(
        pki / f"{ca}.crt",
        pki / f"{name}.crt" if name else None,
        pki / f"{name}.key" if name else None,
    )


def test_kiosk_with_client_certificate_delivers(tmp_path, broker_factory):  # noqa: F811
    broker, tls_port, pki = tls_broker(tmp_path, broker_factory)
    settings = collector_settings(broker.port, username="collector-330100", password="pw-col")
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    ids = enqueue_many(store, outbox, 20)
    with Collector(settings, tmp_path / "station.db") as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        uplink_settings = UplinkSettings(host="127.0.0.1", port=tls_port, tls=tls(pki, "k001"),
                                         reconnect_min_s=0.1)  # fmt: skip
        with Uplink(uplink_settings, tmp_path / "kiosk.db", "330100", "K001") as uplink:
            assert uplink.wait_drained(15), (uplink.stats(), broker.log()[-2000:])
            wait_until(lambda: collector.stats().stored >= len(ids), 5, "events stored")
            assert uplink.stats().refused == 0
    store.close()


def test_every_client_kind_logs_in_with_its_certificate(tmp_path, broker_factory):  # noqa: F811
    """The station CLI, the provisioning listener (from kiosk.toml's tls_* keys) and the
    collector, on the TLS listener: the ACL sees each certificate's CN as the username."""
    _, tls_port, pki = tls_broker(tmp_path, broker_factory)
    county = BrokerSettings(port=tls_port, tls=tls(pki, "county"), client_id="county")
    # TLS 1.3 refuses a missing client certificate after the handshake, 1.2 during it.
    with pytest.raises(BrokerError, match=r"closed the connection before accepting|cannot reach"):
        connect(replace(county, tls=tls(pki, None)))
    with pytest.raises(BrokerError, match=r"cannot reach .*CERTIFICATE_VERIFY_FAILED"):
        connect(replace(county, tls=tls(pki, "county", ca="other-ca")))  # not our broker

    files = {"tls_ca": pki / "ca.crt", "tls_cert": pki / "k001.crt", "tls_key": pki / "k001.key"}
    config = enrolled_config(tmp_path / "kiosk", uplink={"port": tls_port, **files})
    listener, store = headless_listener(config)
    station = connect(county)
    collector = Collector(
        collector_settings(
            tls_port, ca=pki / "ca.crt", cert=pki / "collector.crt", key=pki / "collector.key"
        ),
        tmp_path / "station.db",
    )
    try:
        listener.start()
        collector.start()
        assert listener.wait_connected(5)
        # county-330100 may write its county's trust list, and K001 (by its CN) read it.
        publish_and_wait(station, "agriqs/v1/330100/trust", b"{}", retain=True)
        with pytest.raises(BrokerError, match="reason 0x87"):
            publish_and_wait(station, "agriqs/v1/340100/trust", b"{}")
        wait_until(lambda: listener.stats.handled == 1, 5, "the listener got the trust list")
        wait_until(lambda: collector.stats().connected, 5, "collector connected over TLS")
    finally:
        close(station)
        collector.close()
        listener.stop()
        store.close()
