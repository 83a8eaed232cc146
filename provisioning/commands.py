"""Remote commands on the kiosk: verify, refuse or run once, reply, audit.

A command is a ``wire.documents`` document signed by a county key (the kiosk's trust
anchors) with the body of wire/schemas/provisioning/command.json. Refused, each with a stable
code, a reason in the reply and an audit row: malformed, bad signature, another
addressee, expired or not yet valid, a lifetime beyond a day, an unknown name, and a
replay (the command id or its nonce was seen before: nothing runs a second time, and
the reply carries the first run's reply, which is what makes retries idempotent).
The command is recorded before it runs, so a crash mid-run never runs it twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kiosk.config import SIGNING_KEY_FILE, KioskConfig, simulated_parts
from kiosk.infra.alarms import Alarms
from kiosk.infra.audit import AuditLog
from kiosk.infra.outbox import Outbox
from kiosk.infra.store import Store
from kiosk.services.holds import HoldRegistry
from provisioning.hardware import Hardware, HardwareError
from wire.documents import SignatureError, open_document
from wire.files import PRIVATE, atomic_write
from wire.provisioning import (
    CLOCK_SKEW_S,
    COMMAND_MAX_LIFETIME_S,
    COMMAND_NAMES,
    COMMAND_TYPE,
    make_reply,
    parse_time,
)
from wire.signing import SigningKey
from wire.topics import reply_root, reply_topic

log = logging.getLogger(__name__)

#: ``logs`` returns at most this many lines and bytes: the reply must fit the broker's
#: message_size_limit (256 KiB) with room to spare, over a township's mobile link.
LOG_LINES_DEFAULT = 100
LOG_LINES_MAX = 500
LOG_BYTES_MAX = 32 * 1024
#: Firmware arrives in chunks of at most this many raw bytes (base64 grows it by 4/3).
FIRMWARE_CHUNK_MAX = 64 * 1024
#: A reader image is never larger than this (the reader's flash slot).
FIRMWARE_MAX_BYTES = 2 * 1024 * 1024
#: A software bundle (a tar of wheels) is never larger than this.
SOFTWARE_MAX_BYTES = 256 * 1024 * 1024
#: A diagnostics bundle: at most this much of the newest logs, this big in all, sent in
#: chunks of this many raw bytes (a reply must fit the broker's 256 KiB message limit).
DIAG_LOG_BYTES = 4 * 1024 * 1024
DIAG_MAX_BYTES = 8 * 1024 * 1024
DIAG_CHUNK = 96 * 1024
#: Rows of expired commands are kept this long after expiry (audit has them forever).
COMMAND_ROWS_KEEP = timedelta(days=2)


def release_ready_update(config: KioskConfig, audit: AuditLog) -> Path | None:
    """Hand a verified, staged software bundle to the root updater (``update/incoming/``,
    agriqs-update.path), but only at a quiet moment: never during a farmer's session, a
    rapid test or a print (the UI's activity, kiosk/infra/activity.py). The agent calls
    this every few seconds; the ``software_update`` command once the bundle is whole."""
    from kiosk.infra.activity import quiet

    ready = config.paths.data_dir / "provisioning" / "software" / "ready"
    bundles = sorted(ready.glob("*.tar"), key=lambda p: p.stat().st_mtime) if ready.exists() else []
    if not bundles:
        return None
    calm, why = quiet(config.paths.data_dir)
    if not calm:
        log.info("software update %s waits: the kiosk is in use (%s)", bundles[-1].name, why)
        return None
    incoming = config.paths.update_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    target = incoming / bundles[-1].name
    os.replace(bundles[-1], target)
    for older in bundles[:-1]:
        older.unlink()
    audit.append("update.released", {"bundle": target.name})
    log.warning("software update %s handed to the updater", target.name)
    return target


class CommandFailed(Exception):
    """The command was valid but could not be carried out; the message says why."""


@dataclass
class Refusal(Exception):
    code: str
    message: str
    body: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Reply:
    topic: str
    document: dict[str, Any]
    status: str
    after: Callable[[], None] | None = None  # run once the reply is on its way

    @property
    def payload(self) -> bytes:
        return json.dumps(self.document, ensure_ascii=False).encode("utf-8")


class CommandService:
    """Serves commands for one kiosk over its own store connection (one thread)."""

    def __init__(
        self,
        config: KioskConfig,
        store: Store,
        hardware: Hardware,
        clock: Callable[[], datetime],
        *,
        anchors: Callable[[], list[bytes]],
        versions: Callable[[], dict[str, Any]],
        restart_agent: Callable[[], None] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.hardware = hardware
        self.clock = clock
        self.anchors = anchors
        self.versions = versions
        self.restart_agent = restart_agent
        self.log_dir = log_dir or config.paths.data_dir / "logs"
        device = config.device
        self.county, self.device = device.county, device.device_id
        self.prefix = config.uplink.topic_prefix
        self.audit = AuditLog(store, clock)
        self.outbox = Outbox(store, self.county, self.device, clock)
        self.alarms = Alarms(store, self.outbox, clock)
        self.holds = HoldRegistry(store, self.outbox, self.audit, clock)
        self.key_path = config.paths.keys_dir / SIGNING_KEY_FILE
        self.signer = SigningKey.load_or_create(self.key_path)
        self.handlers: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "diagnostics": self._diagnostics,
            "test_print": lambda a, cid: self._hw("test_print", a, cid),
            "reader_selftest": lambda a, cid: self._hw("reader_selftest", a, cid),
            "reader_calibrate": lambda a, cid: self._hw("reader_calibrate", a, cid),
            "logs": self._logs,
            "rotate_keys": self._rotate_keys,
            "firmware_update": self._firmware_update,
            "software_update": self._software_update,
            "diagnostics_bundle": self._diagnostics_bundle,
            "lift_hold": self._lift_hold,
            "roster": self._roster,
            "restart": self._restart,
        }
        assert set(self.handlers) == set(COMMAND_NAMES)
        self._after: Callable[[], None] | None = None

    # ---- entry point -------------------------------------------------------------------

    def handle(self, topic_name: str, payload: bytes, response_topic: str | None) -> Reply:
        """One message from ``.../cmd/{topic_name}``; always returns a reply to send."""
        self._after = None
        body: dict[str, Any] = {}
        try:
            body = self._verify(topic_name, payload)
            self._claim(body)
        except Refusal as refusal:
            return self._refused(refusal, topic_name, response_topic)
        name, command_id = body["name"], body["id"]
        try:
            result = self.handlers[name](body.get("args") or {}, command_id)
            status, reason = "ok", ""
        except (CommandFailed, HardwareError) as error:
            status, reason, result = "error", str(error), {}
        except Exception as error:  # an unexpected fault is still answered and audited
            log.exception("command %s %s crashed", name, command_id)
            status, reason, result = "error", f"{type(error).__name__}: {error}", {}
        reply = self._reply(command_id, name, status, reason, result, response_topic)
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE commands SET status = ?, reply = ? WHERE id = ?",
                [status, json.dumps(reply.document, ensure_ascii=False), command_id],
            )
            self.audit.append(
                "command.executed" if status == "ok" else "command.failed",
                {
                    "id": command_id,
                    "name": name,
                    "args": _audit_args(body.get("args")),
                    "status": status,
                    "reason": reason,
                },
            )
        log.info("command %s %s: %s %s", name, command_id, status, reason)
        return Reply(reply.topic, reply.document, status, self._after)

    # ---- checks ------------------------------------------------------------------------

    def _verify(self, topic_name: str, payload: bytes) -> dict[str, Any]:
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Refusal("malformed", f"not JSON: {error}") from None
        anchors = self.anchors()
        if not anchors:
            raise Refusal("signature", "this kiosk has no county trust anchors")
        try:
            body = open_document(document, anchors)
        except SignatureError as error:
            raise Refusal("signature", str(error)) from None
        if body.get("type") != COMMAND_TYPE:
            raise Refusal("malformed", f"not a command (type {body.get('type')!r})", body)
        if not isinstance(body.get("id"), str) or not isinstance(body.get("nonce"), str):
            raise Refusal("malformed", "id and nonce must be strings", body)
        if body.get("county") != self.county or body.get("device") != self.device:
            raise Refusal(
                "addressee",
                f"command is for {body.get('county')}/{body.get('device')}, "
                f"this kiosk is {self.county}/{self.device}",
                body,
            )
        if body.get("name") != topic_name:
            raise Refusal(
                "malformed", f"command {body.get('name')!r} sent on cmd/{topic_name}", body
            )
        if body["name"] not in self.handlers:
            raise Refusal("unknown_command", f"no command {body['name']!r}", body)
        try:
            issued = parse_time(body.get("issued_at"), "issued_at")
            expires = parse_time(body.get("expires_at"), "expires_at")
        except ValueError as error:
            raise Refusal("malformed", str(error), body) from None
        now = self.clock()
        if expires <= now:
            raise Refusal("expired", f"command expired at {expires.isoformat()}", body)
        if issued > now + timedelta(seconds=CLOCK_SKEW_S):
            raise Refusal("not_yet_valid", f"command issued in the future ({issued})", body)
        if (expires - issued).total_seconds() > COMMAND_MAX_LIFETIME_S:
            raise Refusal(
                "lifetime", f"a command may live at most {COMMAND_MAX_LIFETIME_S} s", body
            )
        if not isinstance(body.get("args", {}), dict):
            raise Refusal("malformed", "args must be an object", body)
        return body

    def _claim(self, body: dict[str, Any]) -> None:
        """Record the command before running it; a seen id or nonce is a replay."""
        try:
            with self.store.transaction():
                self._purge()
                self.store.conn.execute(
                    "INSERT INTO commands (id, nonce, name, received_at, expires_at, status) "
                    "VALUES (?, ?, ?, ?, ?, 'running')",
                    [
                        body["id"],
                        body["nonce"],
                        body["name"],
                        self.clock().isoformat(),
                        body["expires_at"],
                    ],
                )
        except sqlite3.IntegrityError:
            row = self.store.conn.execute(
                "SELECT id, received_at, status, reply FROM commands WHERE id = ? OR nonce = ?",
                [body["id"], body["nonce"]],
            ).fetchone()
            previous = json.loads(row[3]) if row and row[3] else None
            raise Refusal(
                "replay",
                f"command {row[0] if row else body['id']} was already received at "
                f"{row[1] if row else '?'} ({row[2] if row else '?'}); not run again",
                body,
                previous,
            ) from None

    def _purge(self) -> None:
        cutoff = (self.clock() - COMMAND_ROWS_KEEP).isoformat()
        self.store.conn.execute("DELETE FROM commands WHERE expires_at < ?", [cutoff])

    # ---- replies -------------------------------------------------------------------------

    def _reply(
        self,
        command_id: str | None,
        name: str | None,
        status: str,
        reason: str,
        result: dict[str, Any],
        response_topic: str | None,
    ) -> Reply:
        own = reply_root(self.prefix, self.county, self.device)
        if response_topic and response_topic.startswith(own) and "#" not in response_topic:
            topic = response_topic
        else:  # a foreign ResponseTopic would be refused by the broker anyway
            topic = reply_topic(self.prefix, self.county, self.device, command_id or "unknown")
        document = make_reply(
            self.signer,
            command_id=command_id,
            county=self.county,
            device=self.device,
            name=name,
            status=status,
            reason=reason,
            result=result,
            now=self.clock(),
        )
        return Reply(topic, document, status)

    def _refused(self, refusal: Refusal, topic_name: str, response_topic: str | None) -> Reply:
        body = refusal.body
        command_id = body.get("id") if isinstance(body.get("id"), str) else None
        result = {"previous": refusal.previous} if refusal.previous else {}
        reply = self._reply(
            command_id,
            body.get("name", topic_name),
            "refused",
            f"{refusal.code}: {refusal.message}",
            result,
            response_topic,
        )
        self.audit.append(
            "command.refused",
            {
                "id": command_id,
                "name": body.get("name", topic_name),
                "code": refusal.code,
                "reason": refusal.message,
            },
        )
        log.warning("command refused: %s", refusal)
        return reply

    # ---- handlers --------------------------------------------------------------------------

    def _hw(self, action: str, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        return self.hardware.run(action, args, command_id)

    def _diagnostics(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        data_dir = self.config.paths.data_dir
        usage = shutil.disk_usage(data_dir)
        result: dict[str, Any] = {
            "versions": self.versions(),
            "simulation": self.config.device.simulation,
            "simulated_parts": simulated_parts(self.config),
            "disk": {"free_mb": usage.free // 2**20, "total_mb": usage.total // 2**20},
            "backlog": self.outbox.backlog(),
            "alarms": self._open_alarms(),
            "holds": [h.__dict__ for h in self.holds.open_holds()],
            "audit_head": self.audit.head(),
        }
        if args.get("hardware", True):
            try:
                result["hardware"] = self.hardware.run("hardware_status", {}, command_id)
            except HardwareError as error:
                result["hardware"] = {"error": str(error)}
        return result

    def _diagnostics_bundle(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        """A compressed bundle for the county (recent logs, the effective config (it holds
        paths to secrets, never a secret), versions, hardware and link state, disk, alarm
        history), built at offset 0 and sent in chunks the county asks for by offset."""
        bundle_id = str(args.get("bundle", ""))
        offset = args.get("offset")
        if len(bundle_id) != 16 or not all(c in "0123456789abcdef" for c in bundle_id):
            raise CommandFailed("bundle must be 16 hex digits")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise CommandFailed("offset must be a whole number ≥ 0")
        folder = self.config.paths.data_dir / "provisioning" / "diagnostics"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{bundle_id}.tar.gz"
        if not path.exists():
            if offset != 0:
                raise CommandFailed("no such bundle here; ask again from offset 0")
            for old in folder.glob("*.tar.gz"):  # one bundle kept at a time
                old.unlink()
            atomic_write(path, self._build_diagnostics(command_id), mode=PRIVATE)
        data = path.read_bytes()
        chunk = data[offset : offset + DIAG_CHUNK]
        complete = offset + len(chunk) >= len(data)
        if complete:
            self.audit.append("diagnostics.sent", {"bundle": bundle_id, "size": len(data)})
        return {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "offset": offset,
            "chunk_b64": base64.b64encode(chunk).decode(),
            "complete": complete,
        }

    def _build_diagnostics(self, command_id: str) -> bytes:
        import io
        import tarfile
        import time

        summary = self._diagnostics({"hardware": True}, command_id)
        summary["alarm_history"] = [
            {"code": a.code, "subject": a.subject, "severity": a.severity,
             "message": a.message, "raised_at": a.raised_at, "cleared_at": a.cleared_at}
            for a in self.alarms.history(500)
        ]  # fmt: skip
        summary["config"] = self.config.model_dump(mode="json")
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:

            def add(name: str, body: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(body), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(body))

            add("diagnostics.json", json.dumps(summary, ensure_ascii=False, indent=1,
                                               default=str).encode())  # fmt: skip
            budget = DIAG_LOG_BYTES
            logs = sorted(self.log_dir.glob("*.log*"), key=lambda p: p.stat().st_mtime)
            for log_file in reversed(logs):
                if budget <= 0 or log_file.is_symlink() or not log_file.is_file():
                    continue
                with log_file.open("rb") as handle:
                    handle.seek(0, os.SEEK_END)
                    size = handle.tell()
                    handle.seek(max(0, size - budget))
                    body = handle.read()
                budget -= len(body)
                add(f"logs/{log_file.name}", body)
        data = out.getvalue()
        if len(data) > DIAG_MAX_BYTES:
            raise CommandFailed(f"bundle of {len(data)} bytes is over {DIAG_MAX_BYTES}")
        return data

    def _open_alarms(self) -> list[dict[str, Any]]:
        return [
            {"code": a.code, "subject": a.subject, "since": a.raised_at, "message": a.message}
            for a in self.alarms.open()
        ]

    def _logs(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        want = args.get("lines", LOG_LINES_DEFAULT)
        if not isinstance(want, int) or not 1 <= want <= LOG_LINES_MAX:
            raise CommandFailed(f"lines must be 1..{LOG_LINES_MAX}")
        files = sorted(self.log_dir.glob("*.log"), key=lambda p: p.stat().st_mtime)
        if not files:
            return {"file": None, "lines": []}
        newest = files[-1]
        with newest.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - LOG_BYTES_MAX))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()
        if size > LOG_BYTES_MAX:
            tail = tail[1:]  # the first line is probably cut
        return {"file": newest.name, "lines": tail[-want:], "truncated": len(tail) > want}

    def _rotate_keys(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        """A new certificate-signing key; the old one is kept (its certificates stay
        verifiable) and signs this reply, vouching for the new one."""
        old = self.signer
        retired = self.key_path.parent / "retired" / f"{old.key_id}.pem"
        retired.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        old.save(retired)
        new = SigningKey.generate()
        new.save(self.key_path)
        self.audit.append("keys.rotated", {"previous": old.key_id, "new": new.key_id})

        def switch() -> None:
            self.signer = new

        self._after = switch
        return {
            "public_key": new.public_b64,
            "key_id": new.key_id,
            "previous_key_id": old.key_id,
            "effective": "after the kiosk restarts",
        }

    def _receive_chunk(
        self, args: dict[str, Any], command: str, folder_name: str, what: str, max_bytes: int
    ) -> tuple[str, Path, dict[str, Any] | None]:
        """One chunk of a resumable transfer (reader firmware, software bundles): each chunk
        names its offset; a mismatch answers with the offset the kiosk has, and the county
        continues from there. Returns (sha256, part file, reply): a reply to send now while
        the file is incomplete, None once it is whole (the caller checks its hash)."""
        try:
            sha = str(args["sha256"]).lower()
            size = int(args["size"])
            offset = int(args["offset"])
            chunk = base64.b64decode(args.get("chunk_b64", ""), validate=True)
        except (KeyError, TypeError, ValueError) as error:
            raise CommandFailed(
                f"{command} needs sha256, size, offset, chunk_b64: {error}"
            ) from None
        if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
            raise CommandFailed("sha256 must be 64 hex digits")
        if not 0 < size <= max_bytes or len(chunk) > FIRMWARE_CHUNK_MAX:
            raise CommandFailed(f"{what} size 1..{max_bytes}, chunks ≤ {FIRMWARE_CHUNK_MAX}")
        folder = self.config.paths.data_dir / "provisioning" / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / f"{sha}.part"
        have = part.stat().st_size if part.exists() else 0
        if offset != have or offset + len(chunk) > size:
            return sha, part, {"next_offset": have, "complete": False, "resume": True}
        with part.open("ab") as handle:
            handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        have += len(chunk)
        if have < size:
            return sha, part, {"next_offset": have, "complete": False}
        return sha, part, None

    def _firmware_update(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        """Chunked and resumable (``_receive_chunk``); the whole image goes to the reader."""
        sha, part, reply = self._receive_chunk(args, "firmware_update", "firmware",
                                               "image", FIRMWARE_MAX_BYTES)  # fmt: skip
        if reply is not None:
            return reply
        have = part.stat().st_size
        image = part.read_bytes()
        if hashlib.sha256(image).hexdigest() != sha:
            part.unlink()
            raise CommandFailed("image does not match its sha256; discarded, send it again")
        result = self.hardware.run(
            "reader_flash",
            {
                "image_b64": base64.b64encode(image).decode(),
                "version": str(args.get("version", "")),
                "sha256": sha,
                "signature": str(args.get("signature", "")),
            },
            command_id,
        )
        part.unlink()
        return {"next_offset": have, "complete": True, **result}

    def _software_update(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        """A software bundle from the county, chunked and resumable as firmware is. Once
        whole, it is checked against its SHA-256 and its release signature (the same
        ``verify_bundle`` the root updater runs) before anything uses it, then dropped
        into ``update/incoming/`` where agriqs-update.path hands it to the root updater
        (no downgrade, health-gated rollback: kiosk/infra/update.py)."""
        from kiosk.infra.update import UpdateError, load_release_keys, verify_bundle

        sha, part, reply = self._receive_chunk(args, "software_update", "software",
                                               "bundle", SOFTWARE_MAX_BYTES)  # fmt: skip
        if reply is not None:
            return reply
        folder, have = part.parent, part.stat().st_size
        digest = hashlib.sha256()
        with part.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha:
            part.unlink()
            raise CommandFailed("bundle does not match its sha256; discarded, send it again")
        paths = self.config.paths
        check = folder / f"{sha}.check"
        shutil.rmtree(check, ignore_errors=True)
        check.mkdir(mode=0o700)
        try:
            manifest = verify_bundle(part, load_release_keys(paths.release_keys_dir), check)
        except UpdateError as error:
            part.unlink()
            self.audit.append("update.refused", {"sha256": sha, "reason": str(error)[:300]})
            raise CommandFailed(f"bundle refused: {error}") from None
        finally:
            shutil.rmtree(check, ignore_errors=True)
        ready = folder / "ready"
        ready.mkdir(parents=True, exist_ok=True)
        target = ready / f"{manifest.version}.tar"
        os.replace(part, target)
        self.audit.append("update.received", {"sha256": sha, "version": manifest.version})
        released = release_ready_update(self.config, self.audit)
        return {"next_offset": have, "complete": True, "version": manifest.version,
                "staged": str(target), "released": released is not None}  # fmt: skip

    def _lift_hold(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        hold_id = args.get("hold_id")
        by = str(args.get("by") or "county")
        if not isinstance(hold_id, int):
            raise CommandFailed("hold_id (an integer) is required")
        if not self.holds.lift(hold_id, f"county:{by}"):
            raise CommandFailed(f"hold {hold_id} is not open on this kiosk")
        return {"hold_id": hold_id, "lifted": True}

    def _roster(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        """The county's producer roster, stored for the producer registry to import."""
        version, producers = args.get("version"), args.get("producers")
        if not isinstance(version, int) or not isinstance(producers, list):
            raise CommandFailed("roster needs version (integer) and producers (list)")
        path = self.config.paths.data_dir / "producers" / "roster.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            current = json.loads(path.read_text("utf-8")).get("version", 0)
            if version <= current:
                raise CommandFailed(f"roster version {version} is not newer than {current}")
        data = {"version": version, "producers": producers}
        atomic_write(path, json.dumps(data, ensure_ascii=False).encode("utf-8"), mode=PRIVATE)
        return {"version": version, "count": len(producers)}

    def _restart(self, args: dict[str, Any], command_id: str) -> dict[str, Any]:
        what = args.get("what", "ui")
        if what == "ui":
            return self.hardware.run("restart_ui", {}, command_id)
        if what == "agent":
            if self.restart_agent is None:
                raise CommandFailed("the agent cannot restart itself here")
            self._after = self.restart_agent
            return {"restarting": "agent"}
        raise CommandFailed(f"restart what: ui or agent, not {what!r}")


def _audit_args(args: Any) -> Any:
    """Command args as audited: bulky payloads (firmware chunks, rosters) summarised."""
    if not isinstance(args, dict):
        return args
    out = {}
    for key, value in args.items():
        text = json.dumps(value, ensure_ascii=False)
        out[key] = value if len(text) <= 200 else f"<{len(text)} bytes>"
    return out
