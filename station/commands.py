"""``station cmd``: one signed request to one kiosk, and its reply (MQTT v5 req/resp).

The request goes to ``{prefix}/{county}/{device}/cmd/{name}`` with ResponseTopic
``{prefix}/{county}/{device}/reply/{command id}`` (the kiosk may write only under its
own ``reply/``) and CorrelationData = the command id. Every command and its reply (or
the timeout) is written to ``command_log``. A firmware image is sent as a series of
``firmware_update`` commands, one chunk each, resuming from the offset the kiosk
reports (so an interrupted transfer continues where it stopped).
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.db import Database
from station.devices import now_utc
from wire.mqtt import BrokerSettings, close, connect, publish_and_wait, publish_properties
from wire.provisioning import (
    COMMAND_DEFAULT_LIFETIME_S,
    HARDWARE_DEADLINE_S,
    make_command,
    reply_body,
)
from wire.signing import SigningKey
from wire.topics import command_topic, reply_topic

#: Raw bytes of firmware per command (the kiosk accepts up to 64 KiB).
FIRMWARE_CHUNK = 48 * 1024
DEFAULT_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    command_id: str
    reply: dict[str, Any] | None  # the reply body; None on timeout

    @property
    def status(self) -> str:
        return self.reply["status"] if self.reply else "timeout"


class CommandClient:
    """One connection for any number of commands (a firmware transfer sends many)."""

    def __init__(self, broker: BrokerSettings, key: SigningKey, db: Database | None = None) -> None:
        self.broker = broker
        self.key = key
        self.db = db
        self._replies: queue.Queue[tuple[bytes | None, bytes]] = queue.Queue()
        self._client = connect(
            broker,
            on_message=lambda _c, _u, m: self._replies.put(
                (getattr(m.properties, "CorrelationData", None), m.payload)
            ),
        )

    def close(self) -> None:
        close(self._client)

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        county: str,
        device: str,
        name: str,
        args: dict[str, Any],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        lifetime_s: int = COMMAND_DEFAULT_LIFETIME_S,
    ) -> Outcome:
        command_id, document = make_command(
            self.key, county, device, name, args, now_utc(), lifetime_s
        )
        return self.send_document(county, device, name, command_id, document, args, timeout)

    def send_document(
        self,
        county: str,
        device: str,
        name: str,
        command_id: str,
        document: dict[str, Any],
        args: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Outcome:
        """Publish a (possibly hand-made, for tests) document and wait for its reply."""
        prefix = self.broker.prefix
        response = reply_topic(prefix, county, device, command_id)
        self._client.subscribe(response, qos=1)
        props = publish_properties(response_topic=response, correlation=command_id.encode())
        self._log_sent(command_id, county, device, name, args or {})
        publish_and_wait(
            self._client,
            command_topic(prefix, county, device, name),
            json.dumps(document).encode(),
            properties=props,
        )
        reply = self._wait(command_id.encode(), timeout)
        self._client.unsubscribe(response)
        self._log_reply(command_id, reply)
        return Outcome(command_id, reply)

    def _wait(self, correlation: bytes, timeout: float) -> dict[str, Any] | None:
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, payload = self._replies.get(timeout=left)
            except queue.Empty:
                return None
            if got == correlation:
                try:
                    return reply_body(json.loads(payload))
                except (ValueError, KeyError, TypeError):
                    return {"status": "error", "reason": "unreadable reply", "result": {}}
        return None

    def _log_sent(
        self, cid: str, county: str, device: str, name: str, args: dict[str, Any]
    ) -> None:
        if self.db is None:
            return
        text = json.dumps(args, ensure_ascii=False)
        self.db.execute(
            # A resend of the same signed document (a retry) updates its row; the kiosk
            # answers it with a replay refusal carrying the first run's reply.
            "INSERT INTO command_log (id, county, device_id, name, args, sent_at, status) "
            "VALUES (?, ?, ?, ?, ?, ?, 'sent') ON CONFLICT (id) DO UPDATE SET "
            "sent_at = excluded.sent_at, status = 'sent', reply = NULL, replied_at = NULL",
            [
                cid,
                county,
                device,
                name,
                text if len(text) < 2000 else f"<{len(text)} bytes>",
                now_utc().isoformat(),
            ],
        )

    def _log_reply(self, cid: str, reply: dict[str, Any] | None) -> None:
        if self.db is None:
            return
        self.db.execute(
            "UPDATE command_log SET status = ?, reply = ?, replied_at = ? WHERE id = ?",
            [
                reply["status"] if reply else "timeout",
                json.dumps(reply, ensure_ascii=False) if reply else None,
                now_utc().isoformat() if reply else None,
                cid,
            ],
        )

    def send_firmware(
        self,
        county: str,
        device: str,
        image: bytes,
        version: str,
        signature_hex: str,
        *,
        timeout: float = 120.0,
    ) -> Outcome:
        """Chunks until the kiosk reports the image complete (and flashed)."""
        extra = {"version": version, "signature": signature_hex}
        return self._send_chunks(county, device, "firmware_update", image, extra, timeout)

    def send_software(
        self, county: str, device: str, bundle: bytes, *, timeout: float = 120.0
    ) -> Outcome:
        """A software bundle in chunks, resuming from the offset the kiosk reports, until
        the kiosk says it is whole, checked and staged for its updater."""
        return self._send_chunks(county, device, "software_update", bundle, {}, timeout)

    def _send_chunks(
        self,
        county: str,
        device: str,
        command: str,
        data: bytes,
        extra: dict[str, str],
        timeout: float,
    ) -> Outcome:
        """``data`` in chunks from the offset the kiosk asks for next, until it reports
        the whole checked; the last chunk gets ``timeout`` (the kiosk flashes or stages)."""
        sha = hashlib.sha256(data).hexdigest()
        offset = 0
        while True:
            chunk = data[offset : offset + FIRMWARE_CHUNK]
            args = {
                "sha256": sha,
                "size": len(data),
                "offset": offset,
                **extra,
                "chunk_b64": base64.b64encode(chunk).decode(),
            }
            last = offset + len(chunk) >= len(data)
            outcome = self.send(
                county, device, command, args, timeout=timeout if last else DEFAULT_TIMEOUT_S
            )
            if outcome.reply is None or outcome.status != "ok":
                return outcome
            result = outcome.reply["result"]
            if result.get("complete"):
                return outcome
            offset = int(result["next_offset"])

    def fetch_diagnostics(self, county: str, device: str) -> tuple[bytes | None, Outcome]:
        """The kiosk's diagnostics bundle, chunk by chunk, checked against its SHA-256."""
        import secrets

        bundle_id = secrets.token_hex(8)
        parts: list[bytes] = []
        offset = 0
        while True:
            outcome = self.send(county, device, "diagnostics_bundle",
                                {"bundle": bundle_id, "offset": offset},
                                timeout=HARDWARE_DEADLINE_S + DEFAULT_TIMEOUT_S)  # fmt: skip
            if outcome.reply is None or outcome.status != "ok":
                return None, outcome
            result = outcome.reply["result"]
            chunk = base64.b64decode(result["chunk_b64"])
            parts.append(chunk)
            offset += len(chunk)
            if result.get("complete"):
                data = b"".join(parts)
                if hashlib.sha256(data).hexdigest() != result["sha256"]:
                    return None, outcome
                return data, outcome


def parse_args(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse as JSON, else text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {pair!r} is not key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def load_firmware(path: Path) -> tuple[bytes, str, str]:
    """Image bytes, version and signature (hex) from IMAGE and IMAGE.json (the vendor's)."""
    meta = json.loads(path.with_name(path.name + ".json").read_text("utf-8"))
    return path.read_bytes(), str(meta["version"]), str(meta["signature"])
