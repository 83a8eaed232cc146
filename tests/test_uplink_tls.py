"""TLS with client certificates: the certificate's CN is the kiosk's identity.

The broker listens twice, as in docs/deploy/mosquitto/mosquitto.conf: TLS with
``use_identity_as_username`` for kiosks, and a loopback password listener for the
collector. The ACL is the deployed one, so the CN "330100/K001" must match the
``%u`` patterns exactly for anything to arrive.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support.mqtt_broker import broker_factory, free_port  # noqa: F401  (pytest fixture)
from support.uplink import (
    collector_settings,
    deploy_acl,
    enqueue_many,
    open_kiosk,
    wait_until,
)

from kiosk.infra.uplink import TlsSettings, Uplink, UplinkSettings
from station.collector import Collector

ACCOUNTS = "kiosk 330100/K001\ncollector collector-330100 330100\n"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """A county CA, a server certificate for 127.0.0.1, and kiosk K001's certificate."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"),
             "-subj", "/CN=Test County CA", "-days", "2")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject, ext in (
        ("server", "/CN=127.0.0.1", ["-extfile", str(d / "san.ext")]),
        ("k001", "/CN=330100\\/K001", []),
    ):
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                 "-subj", subject)  # fmt: skip
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.crt"),
                 "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                 "-out", str(d / f"{name}.crt"), *ext)  # fmt: skip


def test_kiosk_with_client_certificate_delivers(tmp_path, broker_factory):  # noqa: F811
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
    settings = collector_settings(broker.port, username="collector-330100", password="pw-col")
    store, outbox = open_kiosk(tmp_path / "kiosk.db")
    ids = enqueue_many(store, outbox, 20)
    with Collector(settings, tmp_path / "station.db") as collector:
        wait_until(lambda: collector.stats().connected, 5, "collector connected")
        tls = TlsSettings(ca=pki / "ca.crt", cert=pki / "k001.crt", key=pki / "k001.key")
        uplink_settings = UplinkSettings(host="127.0.0.1", port=tls_port, tls=tls,
                                         reconnect_min_s=0.1)  # fmt: skip
        with Uplink(uplink_settings, tmp_path / "kiosk.db", "330100", "K001") as uplink:
            assert uplink.wait_drained(15), (uplink.stats(), broker.log()[-2000:])
            wait_until(lambda: collector.stats().stored >= len(ids), 5, "events stored")
            assert uplink.stats().refused == 0
    store.close()
