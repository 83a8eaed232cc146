"""TLS client certificates from a CSR (issue 18 item 3), on a real Mosquitto with
``require_certificate`` and ``use_identity_as_username``: the kiosk makes its key (0600,
never sent) and a CSR, the county's device CA signs it for exactly ``{county}/{device}``,
the kiosk's provisioning listener logs in with it under the deployed ACL, and after
revocation (the CA's CRL as the broker's ``crlfile``) it is refused. Attacks first."""

from __future__ import annotations

import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from support.mqtt_broker import broker_factory, free_port  # noqa: F401  (fixture)
from support.provisioning import enrolled_config, headless_listener
from support.uplink import deploy_acl
from test_uplink_tls import make_pki

from wire.devicecert import (
    CERT_FILE,
    KEY_FILE,
    DeviceCertError,
    install_certificate,
    make_crl,
    needs_renewal,
    new_device_ca,
    request_certificate,
    serial_of,
    sign_request,
)
from wire.mqtt import BrokerError, BrokerSettings, TlsSettings, close, connect

ACCOUNTS = "kiosk 330100/K001\nkiosk 330100/K002\ncounty county-330100 330100\n"
NOW = datetime.now(UTC)


@pytest.fixture
def ca(tmp_path: Path) -> tuple[bytes, bytes]:
    return new_device_ca("330100", NOW)


def test_the_ca_signs_only_a_sound_request_for_the_device_it_names(tmp_path, ca) -> None:
    cert, key = ca
    k2 = request_certificate(tmp_path / "k2", "330100", "K002").read_bytes()
    # K002's request presented as K001's: refused (a kiosk cannot take another's name).
    with pytest.raises(DeviceCertError, match="330100/K002"):
        sign_request(k2, cert, key, "330100", "K001", NOW)
    tampered = k2.replace(b"\nM", b"\nN", 1)
    with pytest.raises(DeviceCertError):
        sign_request(tampered, cert, key, "330100", "K002", NOW)
    signed = sign_request(k2, cert, key, "330100", "K002", NOW)
    parsed = x509.load_pem_x509_certificate(signed)
    assert parsed.subject.rfc4514_string() == "CN=330100/K002"
    assert not needs_renewal(signed, NOW) and needs_renewal(signed, NOW + timedelta(days=340))
    # A certificate for another kiosk, or another key, is not installed.
    other = sign_request(
        request_certificate(tmp_path / "k3", "330100", "K003").read_bytes(),
        cert, key, "330100", "K003", NOW,
    )  # fmt: skip
    with pytest.raises(DeviceCertError, match="not this kiosk"):
        install_certificate(tmp_path / "k2", other, "330100", "K002")
    key_mode = stat.S_IMODE((tmp_path / "k2" / KEY_FILE).stat().st_mode)
    assert key_mode == 0o600
    # The key is kept: a renewal's request carries the same public key.
    again = request_certificate(tmp_path / "k2", "330100", "K002").read_bytes()
    assert (
        x509.load_pem_x509_csr(again).public_key().public_numbers()
        == x509.load_pem_x509_csr(k2).public_key().public_numbers()
    )


def test_a_kiosk_enrolled_with_a_csr_connects_and_is_refused_after_revocation(
    tmp_path,
    ca,
    broker_factory,  # noqa: F811
) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed for the broker's server certificate")
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)  # the broker's server certificate and the CA kiosks verify it with
    ca_cert, ca_key = ca
    (pki / "devices-ca.crt").write_bytes(ca_cert)
    keys = tmp_path / "kiosk-keys"
    csr = request_certificate(keys, "330100", "K001")
    signed = sign_request(csr.read_bytes(), ca_cert, ca_key, "330100", "K001", NOW)
    cert_path = install_certificate(keys, signed, "330100", "K001")
    assert cert_path == keys / CERT_FILE

    def broker_with(crl: bytes):
        (pki / "crl.pem").write_bytes(crl)
        port = free_port()
        broker = broker_factory(
            acl=deploy_acl(tmp_path / f"acl-{port}", ACCOUNTS),
            extra_config="\n".join([
                f"listener {port} 127.0.0.1", f"cafile {pki / 'devices-ca.crt'}",
                f"certfile {pki / 'server.crt'}", f"keyfile {pki / 'server.key'}",
                f"crlfile {pki / 'crl.pem'}", "require_certificate true",
                "use_identity_as_username true",
            ]),
        )  # fmt: skip
        return broker, port

    _, port = broker_with(make_crl(ca_cert, ca_key, [], NOW))
    files = {"tls_ca": pki / "ca.crt", "tls_cert": cert_path, "tls_key": keys / KEY_FILE}
    config = enrolled_config(tmp_path / "kiosk", uplink={"port": port, **files})
    listener, store = headless_listener(config)
    try:
        listener.start()
        assert listener.wait_connected(10)  # logged in as 330100/K001 by its certificate
    finally:
        listener.stop()
        store.close()
    # A certificate from another CA with the same CN is refused.
    other_cert, other_key = new_device_ca("330100", NOW)
    forged = sign_request(csr.read_bytes(), other_cert, other_key, "330100", "K001", NOW)
    (tmp_path / "forged.pem").write_bytes(forged)
    tls_forged = TlsSettings(pki / "ca.crt", tmp_path / "forged.pem", keys / KEY_FILE)
    with pytest.raises(BrokerError):
        connect(BrokerSettings(port=port, tls=tls_forged, client_id="330100-K001-x"))
    # Revoked: the CA's CRL lists the serial; the broker refuses the certificate.
    revoked = make_crl(ca_cert, ca_key, [(serial_of(signed), NOW)], NOW)
    _, port2 = broker_with(revoked)
    tls_own = TlsSettings(pki / "ca.crt", cert_path, keys / KEY_FILE)
    with pytest.raises(BrokerError):
        connect(BrokerSettings(port=port2, tls=tls_own, client_id="330100-K001-y"))
    # The same certificate still logs in where the CRL does not list it (control).
    client = connect(BrokerSettings(port=port, tls=tls_own, client_id="330100-K001-z"))
    close(client)


def test_the_technician_commands_request_sign_install_and_revoke(tmp_path) -> None:
    """``kiosk cert request`` / ``station certs new-ca|sign|revoke`` / ``kiosk cert
    install`` as real processes; the identity layer then names the certificate."""
    import json
    import subprocess
    import sys

    from kiosk.config import effective_config

    base = enrolled_config(tmp_path / "kiosk")
    toml = tmp_path / "kiosk.toml"
    toml.write_text(f'[paths]\ndata_dir = "{tmp_path / "kiosk"}"\n[device]\nsimulation = true\n')

    def run(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    kiosk = ("app.cli", "--config", str(toml))
    csr = Path(run(*kiosk, "cert", "request"))
    assert csr.name == "mqtt-client.csr" and b"CERTIFICATE REQUEST" in csr.read_bytes()
    ca = tmp_path / "ca"
    run("station.cli", "certs", "new-ca", "--ca", str(ca), "--county", "330100")
    assert stat.S_IMODE((ca / "ca.key").stat().st_mode) == 0o600
    out = tmp_path / "k001.pem"
    run("station.cli", "certs", "sign", str(csr), "--device", "K001", "--ca", str(ca),
        "--county", "330100", "--out", str(out))  # fmt: skip
    refused = subprocess.run(
        [sys.executable, "-m", "station.cli", "certs", "sign", str(csr), "--device", "K002",
         "--ca", str(ca), "--county", "330100", "--out", str(tmp_path / "x.pem")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "330100/K001" in refused.stderr
    run(*kiosk, "cert", "install", str(out))
    uplink = effective_config(base).uplink
    assert uplink.tls_cert is not None and uplink.tls_cert.read_bytes() == out.read_bytes()
    assert uplink.tls_key is not None and uplink.tls_key.name == KEY_FILE
    run("station.cli", "certs", "revoke", str(out), "--ca", str(ca), "--county", "330100")
    crl = x509.load_pem_x509_crl((ca / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial_of(out.read_bytes())) is not None
    assert json.loads((ca / "revoked.json").read_text())[0]["serial"] == str(
        serial_of(out.read_bytes())
    )


def test_a_certificate_near_expiry_raises_an_alarm_until_it_is_renewed(tmp_path, ca) -> None:
    from app.compose import open_kiosk
    from kiosk.config import effective_config
    from provisioning.enroll import (
        check_client_certificate,
        install_client_certificate,
        request_client_certificate,
    )

    cert, key = ca
    base = enrolled_config(tmp_path / "kiosk")
    with open_kiosk(effective_config(base)) as kiosk:
        assert check_client_certificate(base, kiosk.store, NOW) is None  # a password kiosk
        csr = request_client_certificate(base).read_bytes()
        short = sign_request(csr, cert, key, "330100", "K001", NOW, days=10)
        install_client_certificate(base, short)
        assert check_client_certificate(base, kiosk.store, NOW) is True
        assert kiosk.alarms.is_open("certificate_expiring")
        # Renewal: a new request (the same key) signed for a year, installed.
        renewed = sign_request(request_client_certificate(base).read_bytes(), cert, key,
                               "330100", "K001", NOW)  # fmt: skip
        install_client_certificate(base, renewed)
        assert check_client_certificate(base, kiosk.store, NOW) is False
        assert not kiosk.alarms.is_open("certificate_expiring")
        assert kiosk.audit.entries(kind="certificate.installed")
