"""The producer registry: who a farmer is when they scan a card or type phone and PIN.

A producer registered at the kiosk gets an id (``{device}-P{seq}``) printed as a QR on a
card; next time a scan of that card is the whole identification. The county may push
a roster (``kiosk/data`` layout: ``{data_dir}/producers/roster.json``, written by the
``roster`` remote command); ``import_roster`` folds it in once per version. PINs are
scrypt-hashed and rate-limited per phone number (kiosk/services/staff.py).
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from drivers.printer.base import LabelPrinter, ProgressCallback
from drivers.printer.document import LabelDocument, QrBlock, TextBlock, text_width
from kiosk.domain.model import Issuer
from kiosk.domain.validation import InputError
from kiosk.infra.store import Store
from kiosk.services.staff import AttemptLimiter, LockedOut, check_pin_format, hash_pin, verify_pin

log = logging.getLogger(__name__)

VILLAGES_FILE = Path(__file__).parents[1] / "data" / "villages.toml"
#: The prefix of a producer card's QR: ``AQP1:{producer_id}``.
CARD_PREFIX = "AQP1:"
ROSTER_COUNTER = "producer_roster_version"
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
MAX_NAME_CHARS = 16

__all__ = ["LockedOut", "Producer", "ProducerRegistry", "Village"]


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    name_en: str


def load_villages(path: Path = VILLAGES_FILE) -> list[Village]:
    doc = tomllib.loads(path.read_text("utf-8"))
    return [Village(v["code"], v["name"], v.get("name_en", v["name"])) for v in doc["village"]]


@dataclass(frozen=True)
class Producer:
    producer_id: str
    name: str
    phone: str
    village: str
    platform_code: str | None
    has_pin: bool
    source: str

    @property
    def issuer(self) -> Issuer:
        """The certificate's 承诺主体: holds and history attach to the producer id."""
        return Issuer(self.name, self.phone, self.producer_id)

    @property
    def card_code(self) -> str:
        return CARD_PREFIX + self.producer_id


def _name(value: str) -> str:
    name = (value or "").strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InputError("name", "name", f"请填写姓名（{MAX_NAME_CHARS}字以内）")
    if name.isdigit():
        raise InputError("name", "digits", "姓名不能只有数字")
    return name


def _phone(value: str) -> str:
    phone = (value or "").strip().replace(" ", "")
    if not _MOBILE.match(phone):
        raise InputError("phone", "phone", "手机号应为11位数字，以1开头")
    return phone


class ProducerRegistry:
    """Producers known to this kiosk: registered here or pushed by the county."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        device_id: str,
        limiter: AttemptLimiter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.device_id = device_id
        self.limiter = limiter or AttemptLimiter(store, clock)

    # -- registering --------------------------------------------------------------

    def register(self, name: str, phone: str, village: str, pin: str) -> Producer:
        """A new producer with a card id; a phone already registered is refused."""
        name, phone = _name(name), _phone(phone)
        village = (village or "").strip()
        if not village:
            raise InputError("village", "empty", "请选择村")
        try:
            pin = check_pin_format(pin)
        except ValueError:
            raise InputError("pin", "pin", "密码须为4到8位数字") from None
        if self.by_phone(phone):
            raise InputError("phone", "registered", "这个手机号已经登记过：请用手机号和密码进入")
        now = self.clock().isoformat()
        with self.store.transaction():
            seq = self.store.advance_counter("producer_seq")
            producer_id = f"{self.device_id}-P{seq:06d}"
            self.store.conn.execute(
                "INSERT INTO producers (producer_id, name, phone, village, pin_hash, source, "
                "registered_at, updated_at) VALUES (?, ?, ?, ?, ?, 'kiosk', ?, ?)",
                [producer_id, name, phone, village, hash_pin(pin), now, now],
            )
        log.info("producer %s registered", producer_id)
        return self.get(producer_id)

    # -- finding ------------------------------------------------------------------

    def get(self, producer_id: str) -> Producer:
        found = self._where("producer_id = ?", [producer_id])
        if not found:
            raise KeyError(producer_id)
        return found[0]

    def by_phone(self, phone: str) -> list[Producer]:
        return self._where("phone = ?", [(phone or "").strip()])

    def by_scan(self, code: str) -> Producer | None:
        """A producer card (``AQP1:...``), a bare id, or a national 主体码; None if unknown."""
        code = (code or "").strip()
        if code.startswith(CARD_PREFIX):
            code = code[len(CARD_PREFIX) :]
        found = self._where("producer_id = ? OR platform_code = ?", [code, code])
        return found[0] if found else None

    def login(self, phone: str, pin: str) -> Producer | None:
        """The producer with this phone and PIN; None for a wrong pair; ``LockedOut``."""
        subject = f"producer-phone:{(phone or '').strip()}"
        self.limiter.ensure_unlocked(subject)
        for producer in self.by_phone(phone):
            stored = self._pin_hash(producer.producer_id)
            if stored and verify_pin(pin, stored):
                self.limiter.succeeded(subject)
                return producer
        state = self.limiter.failed(subject)
        if state.locked_until is not None:
            raise LockedOut(subject, state.locked_until)
        return None

    def count(self) -> int:
        return self.store.conn.execute("SELECT count(*) FROM producers").fetchone()[0]

    # -- the card -----------------------------------------------------------------

    def card_document(
        self, producer: Producer, width: int = 480, height: int = 320
    ) -> LabelDocument:
        """The producer card: a QR to scan next time, the name and the village."""
        module = max(4, min(8, (height - 32) // 25))
        qr = QrBlock(16, 16, producer.card_code, module, "M", 2)
        x = 16 + qr.size + 24
        room = width - x - 8
        blocks: list = [qr]
        y = 24
        for text, size in (
            ("农户卡", 32),
            (producer.name, 48 if text_width(producer.name, 48) <= room else 24),
            (producer.village, 24),
            (producer.phone[:3] + "****" + producer.phone[-4:], 24),
            (producer.producer_id, 16),
        ):
            if text and text_width(text, size) <= room:
                blocks.append(TextBlock(x, y, text, size, bold=size >= 32))
                y += size + 12
        return LabelDocument(width, height, tuple(blocks))

    def print_card(
        self,
        producer: Producer,
        printer: LabelPrinter,
        size: tuple[int, int] = (480, 320),
        progress: ProgressCallback | None = None,
    ) -> None:
        """Print the card; ``PrinterError`` as from any print."""
        printer.print_label(self.card_document(producer, *size), 1, progress)

    # -- the county's roster ------------------------------------------------------

    def import_roster(self, path: Path) -> tuple[int, int]:
        """Fold a pushed roster in once per version: (imported, skipped) entries."""
        if not path.is_file():
            return 0, 0
        doc = json.loads(path.read_text("utf-8"))
        version = int(doc.get("version", 0))
        if version <= self.store.counter(ROSTER_COUNTER):
            return 0, 0
        imported = skipped = 0
        now = self.clock().isoformat()
        with self.store.transaction():
            for entry in doc.get("producers", []):
                try:
                    row = self._roster_row(entry)
                except (InputError, KeyError, TypeError, ValueError) as error:
                    log.warning("roster entry skipped: %s", error)
                    skipped += 1
                    continue
                self.store.conn.execute(
                    "INSERT INTO producers (producer_id, name, phone, village, platform_code, "
                    "pin_hash, source, registered_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'roster', ?, ?) ON CONFLICT (producer_id) DO "
                    "UPDATE SET name = excluded.name, phone = excluded.phone, "
                    "village = excluded.village, platform_code = excluded.platform_code, "
                    "pin_hash = coalesce(excluded.pin_hash, producers.pin_hash), "
                    "updated_at = excluded.updated_at",
                    [*row, now, now],
                )
                imported += 1
            self.store.advance_counter(ROSTER_COUNTER, at_least=version - 1)
        log.info("roster v%d: %d imported, %d skipped", version, imported, skipped)
        return imported, skipped

    @staticmethod
    def _roster_row(entry: dict) -> list:
        producer_id = str(entry["id"]).strip()
        if not _ID.match(producer_id):
            raise ValueError(f"bad producer id {producer_id!r}")
        pin_hash = entry.get("pin_hash")
        if pin_hash is not None and not str(pin_hash).startswith("scrypt$"):
            raise ValueError("pin_hash must be a scrypt hash")
        platform = (entry.get("platform_code") or "").strip() or None
        return [producer_id, _name(entry["name"]), _phone(entry["phone"]),
                str(entry.get("village", "")).strip(), platform, pin_hash]  # fmt: skip

    # -- internals ----------------------------------------------------------------

    def _pin_hash(self, producer_id: str) -> str | None:
        row = self.store.conn.execute(
            "SELECT pin_hash FROM producers WHERE producer_id = ?", [producer_id]
        ).fetchone()
        return row[0] if row else None

    def _where(self, clause: str, params: list) -> list[Producer]:
        rows = self.store.conn.execute(
            "SELECT producer_id, name, phone, village, platform_code, pin_hash IS NOT NULL, "
            f"source FROM producers WHERE {clause} ORDER BY producer_id",
            params,
        ).fetchall()
        return [Producer(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows]
