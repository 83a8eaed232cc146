"""Enrollment, kiosk side: one code in, identity and credentials out.

Before enrollment the kiosk's config names the county broker and the county's
enrollment account (``enroll-{county}``, shipped in the image: it can do nothing but
enroll). The kiosk makes its certificate-signing key, connects with a random client
id, and publishes a request signed by that key (proof it holds it) on
``{prefix}/enroll/{county}/{client id}/req``. The broker ACL (``%c``) lets this
connection write only that topic and read only ``.../{client id}/resp``, so no other
enrolling kiosk can read its answer.

The answer carries an HMAC keyed by the code: only the county, which issued the
code, can make it, so the trust anchors in it can be believed although the kiosk had
none before. The kiosk then writes its MQTT password (0600), ``identity.json`` (the
config layer of app/cli_provisioning.py) and the county's trust list.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.config import (
    IDENTITY_FILE,
    SIGNING_KEY_FILE,
    KioskConfig,
    config_dir,
    effective_config,
    read_layer,
)
from kiosk.infra.audit import AuditLog
from kiosk.infra.store import Store
from kiosk.infra.uplink import software_version, uplink_settings
from provisioning.listener import TRUST_FILE
from wire.clock import china_time
from wire.devicecert import KEY_FILE as CLIENT_KEY_FILE
from wire.devicecert import (
    DeviceCertError,
    install_certificate,
    needs_renewal,
    not_after,
    request_certificate,
)
from wire.documents import sign_document
from wire.files import PRIVATE, atomic_write
from wire.mqtt import BrokerError, Client, Message, close, connect, publish_and_wait
from wire.provisioning import (
    ENROLL_REQUEST_TYPE,
    ENROLL_RESPONSE_TYPE,
    check_response_mac,
    iso,
    new_enroll_client_id,
    parse_scanned_code,
)
from wire.signing import SigningKey, decode_public_key
from wire.topics import enroll_request_topic, enroll_response_topic
from wire.trust import TrustListError, parse_trust_list

log = logging.getLogger(__name__)

PASSWORD_FILE = "mqtt-password"


class EnrollError(RuntimeError):
    """Enrollment did not complete; the message says why (shown to the technician)."""


@dataclass(frozen=True)
class Enrolled:
    county: str
    device_id: str
    township: str
    service_point: str
    username: str
    key_id: str


def enroll(
    config: KioskConfig, code_text: str, *, timeout_s: float = 60.0, now: datetime | None = None
) -> Enrolled:
    """Enroll with the county; EnrollError (refused, timeout, forged answer) says why."""
    try:
        code = parse_scanned_code(code_text)
    except ValueError as error:
        raise EnrollError(str(error)) from None
    county = config.device.county
    if code_text.strip().upper().startswith("AGRIQS:ENROLL:"):
        county = code_text.strip().upper().split(":")[2]

    key = SigningKey.load_or_create(config.paths.keys_dir / SIGNING_KEY_FILE)
    client_id = new_enroll_client_id(config.uplink.username)
    body = {
        "type": ENROLL_REQUEST_TYPE,
        "code": code,
        "county": county,
        "client_id": client_id,
        "public_key": key.public_b64,
        "credential": "password",
        "hostname": platform.node()[:64],
        "software_version": software_version(),
        "time": iso(now or china_time()),
    }
    answer = _exchange(config, client_id, county, sign_document(body, key), timeout_s)
    return _accept(config, code, key, answer)


def _exchange(
    config: KioskConfig, client_id: str, county: str, request: dict[str, str], timeout_s: float
) -> dict[str, Any]:
    """Publish the request; return the first final answer (pending answers are logged)."""
    # A clean session: a random client id must leave nothing behind on the broker.
    broker = replace(uplink_settings(config).broker(client_id), session_expiry_s=None)
    prefix = broker.prefix

    answers: list[dict[str, Any]] = []
    got = threading.Event()
    subscribed = threading.Event()
    pending: list[str] = []  # the county's request id while a technician must approve

    def on_connect(client: Client, *_a: Any) -> None:
        client.subscribe(enroll_response_topic(prefix, county, client_id), qos=1)

    def on_message(_c: Client, _u: Any, msg: Message) -> None:
        try:
            answer = json.loads(msg.payload)
            status = json.loads(answer["body"]).get("status")
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable enrollment answer ignored")
            return
        if status == "pending":
            request_id = str(json.loads(answer["body"]).get("request_id", "?"))
            log.info("enrollment request %s waits for approval at the county", request_id)
            pending.append(request_id)
            return
        answers.append(answer)
        got.set()

    try:
        client = connect(
            broker,
            timeout=min(timeout_s, 10.0),
            on_connect=on_connect,
            on_message=on_message,
            on_subscribe=lambda *_a: subscribed.set(),
        )
    except BrokerError as error:
        raise EnrollError(f"enrollment login: {error}") from None
    try:
        if not subscribed.wait(min(timeout_s, 10.0)):
            raise EnrollError("the county broker did not accept the enrollment subscription")
        try:
            publish_and_wait(
                client,
                enroll_request_topic(prefix, county, client_id),
                json.dumps(request),
                timeout=timeout_s,
            )
        except BrokerError as error:
            raise EnrollError(f"enrollment request not sent: {error}") from None
        if not got.wait(timeout_s):
            if pending:
                raise EnrollError(
                    f"waiting for approval: the county holds request {pending[-1]}; once a "
                    f"technician has run `station devices approve {pending[-1]}`, run "
                    "`kiosk enroll` again with the same code"
                )
            raise EnrollError(
                f"no answer from the county within {timeout_s:.0f} s "
                "(is the enrollment service running? awaiting approval?)"
            )
        return answers[0]
    finally:
        close(client)


def _accept(config: KioskConfig, code: str, key: SigningKey, answer: dict[str, Any]) -> Enrolled:
    body_text, mac = answer.get("body"), answer.get("mac")
    if not isinstance(body_text, str):
        raise EnrollError("malformed answer from the county")
    body = json.loads(body_text)
    if body.get("status") == "refused":
        # Unauthenticated (a forged code has no key to sign with), but harmless: nothing
        # is written; the reason is only shown.
        raise EnrollError(f"enrollment refused by the county: {body.get('reason', '?')}")
    if body.get("type") != ENROLL_RESPONSE_TYPE or body.get("status") != "approved":
        raise EnrollError(f"unexpected answer: {body.get('type')} {body.get('status')}")
    if not isinstance(mac, str) or not check_response_mac(code, body_text, mac):
        raise EnrollError("the answer is not authenticated by this code: not from the county")
    if body.get("public_key") != key.public_b64:
        raise EnrollError("the answer is for another kiosk's key")
    try:
        anchors = [decode_public_key(a) for a in body["trust_anchors"]]
        device = body["device"]
        mqtt_account = body["mqtt"]
    except (KeyError, TypeError, ValueError) as error:
        raise EnrollError(f"malformed answer: {error}") from None
    data_dir = config.paths.data_dir
    folder = config_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    keys = config.paths.keys_dir
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    password_path = keys / PASSWORD_FILE
    atomic_write(password_path, mqtt_account["password"].encode(), mode=PRIVATE)
    os.chmod(password_path, 0o600)
    trust_path = data_dir / TRUST_FILE
    if body.get("trust_list"):
        try:
            parse_trust_list(body["trust_list"], anchors)
        except TrustListError as error:
            raise EnrollError(f"the county's trust list does not verify: {error}") from None
        atomic_write(trust_path, json.dumps(body["trust_list"]).encode(), mode=PRIVATE)
    identity = {
        "device": {
            "county": device["county"],
            "device_id": device["device_id"],
            "township": device["township"],
            "service_point": device["service_point"],
        },
        "uplink": {"username": mqtt_account["username"], "password_file": str(password_path)},
        "certificate": {
            "trust_anchors": body["trust_anchors"],
            **({"trust_list": str(trust_path)} if body.get("trust_list") else {}),
        },
    }
    atomic_write(
        folder / IDENTITY_FILE,
        json.dumps(identity, ensure_ascii=False, indent=1).encode(),
        mode=PRIVATE,
    )
    with Store(config.paths.database) as store:
        AuditLog(store, china_time).append(
            "enrollment",
            {
                "county": device["county"],
                "device_id": device["device_id"],
                "township": device["township"],
                "key_id": key.key_id,
            },
        )
    log.info("enrolled as %s/%s", device["county"], device["device_id"])
    return Enrolled(
        device["county"],
        device["device_id"],
        device["township"],
        device["service_point"],
        mqtt_account["username"],
        key.key_id,
    )


def request_client_certificate(config: KioskConfig) -> Path:
    """The key (kept on the kiosk, 0600) and a CSR for ``{county}/{device}`` (the
    effective identity) for the county's device CA to sign (docs/fleet.md)."""
    effective = effective_config(config)
    device = effective.device
    return request_certificate(effective.paths.keys_dir, device.county, device.device_id)


def install_client_certificate(config: KioskConfig, cert_pem: bytes) -> Path:
    """Keep a county-signed certificate for this device and key, and point the identity
    layer's ``uplink.tls_cert``/``tls_key`` at it (the uplink and the provisioning
    listener log in with it after a restart; the broker takes its CN as the username)."""
    effective = effective_config(config)
    device = effective.device
    keys = effective.paths.keys_dir
    try:
        path = install_certificate(keys, cert_pem, device.county, device.device_id)
    except (DeviceCertError, ValueError, OSError) as error:
        raise EnrollError(f"certificate not installed: {error}") from None
    folder = config_dir(config.paths.data_dir)
    identity = read_layer(folder / IDENTITY_FILE) or {}
    uplink = dict(identity.get("uplink") or {})
    uplink.update({"tls_cert": str(path), "tls_key": str(keys / CLIENT_KEY_FILE)})
    identity["uplink"] = uplink
    atomic_write(
        folder / IDENTITY_FILE,
        json.dumps(identity, ensure_ascii=False, indent=1).encode(),
        mode=PRIVATE,
    )
    with Store(config.paths.database) as store:
        AuditLog(store, china_time).append(
            "certificate.installed", {"identity": f"{device.county}/{device.device_id}"}
        )
    return path


def check_client_certificate(config: KioskConfig, store: Store, now: datetime) -> bool | None:
    """Alarm ``certificate_expiring`` while the TLS client certificate is within 30 days
    of expiry (or unreadable), cleared once a renewed one is installed; None when the
    kiosk logs in with a password. The agent asks every hour."""
    from kiosk.infra.alarms import Alarms
    from kiosk.infra.outbox import Outbox

    effective = effective_config(config)
    path = effective.uplink.tls_cert
    if path is None:
        return None
    device = effective.device
    alarms = Alarms(store, Outbox(store, device.county, device.device_id, china_time), china_time)
    try:
        pem = path.read_bytes()
        expiring = needs_renewal(pem, now)
        detail = {"file": str(path), "not_after": not_after(pem).isoformat()}
    except (OSError, ValueError) as error:
        expiring, detail = True, {"file": str(path), "error": str(error)[:200]}
    if expiring:
        alarms.raise_("certificate_expiring", "warning",
                      "终端证书将在30天内到期，请更新（kiosk cert request）", detail)  # fmt: skip
    else:
        alarms.clear("certificate_expiring")
    return expiring
