"""The producer registry: who a farmer is when they scan a card or type phone and PIN.

One producer, one identity (docs/certificates.md §2): a producer registered at the kiosk
gets an id (``{device}-P{seq}``), the producer key that holds, evidence and history
attach to. Every identifier resolves to it: the card (its QR carries a random token,
``AQP2:<token>``, never the sequential id), phone + PIN (any phone the producer has
bound, old ones included), the national 主体码 and the ID number. The county may push
a roster (``kiosk/data`` layout: ``{data_dir}/producers/roster.json``, written by the
``roster`` remote command); ``import_roster`` folds it in once per version. PINs are
scrypt-hashed and rate-limited per phone number (kiosk/services/staff.py).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from drivers.printer.base import LabelPrinter, ProgressCallback
from drivers.printer.document import LabelDocument, QrBlock, TextBlock, text_width
from kiosk.domain.model import Issuer
from kiosk.domain.validation import InputError, check_text
from kiosk.infra.store import Store
from kiosk.services.staff import AttemptLimiter, LockedOut, check_pin_format, hash_pin, verify_pin

log = logging.getLogger(__name__)

VILLAGES_FILE = Path(__file__).parents[1] / "data" / "villages.toml"
#: The prefix of a producer card's QR: ``AQP2:{card_token}``. The old ``AQP1:{id}``
#: cards named the sequential id (guessable from any other card) and are refused.
CARD_PREFIX = "AQP2:"
OLD_CARD_PREFIX = "AQP1:"
_ID_NUMBER = re.compile(r"^(\d{17}[\dX]|[0-9A-HJ-NPQRTUWXY]{18})$")
ROSTER_COUNTER = "producer_roster_version"
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,31}$")
MAX_NAME_CHARS = 50  # a cooperative or company registers its full name

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
    card_token: str = ""
    id_number: str | None = None

    @property
    def issuer(self) -> Issuer:
        """The certificate's 承诺主体: holds and history attach to the producer id."""
        return Issuer(self.name, self.phone, self.producer_id)

    @property
    def card_code(self) -> str:
        return CARD_PREFIX + self.card_token


def new_card_token() -> str:
    """128 random bits, base32 (QR alphanumeric mode): not derivable from any other card."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def producer_keys(store: Store, producer_key: str) -> set[str]:
    """Every key that names the same producer as ``producer_key``: its id and ``tel:``
    keys of every phone it has bound. Holds and evidence compare through this, so a
    hold placed on a phone applies to the card and the other way round."""
    keys = {producer_key}
    if producer_key.startswith("tel:"):
        rows = store.conn.execute(
            "SELECT producer_id FROM producer_phones WHERE phone = ?", [producer_key[4:]]
        ).fetchall()
        ids = {r[0] for r in rows}
    else:
        ids = {producer_key}
    for producer_id in ids:
        keys.add(producer_id)
        for (phone,) in store.conn.execute(
            "SELECT phone FROM producer_phones WHERE producer_id = ?", [producer_id]
        ):
            keys.add(f"tel:{phone}")
    return keys


def _name(value: str) -> str:
    name = check_text(value or "", "name", "姓名", 1, MAX_NAME_CHARS)
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
        if self.by_phone(phone) or self._phone_owner(phone):
            raise InputError("phone", "registered", "这个手机号已经登记过：请用手机号和密码进入")
        now = self.clock().isoformat()
        with self.store.transaction():
            seq = self.store.advance_counter("producer_seq")
            producer_id = f"{self.device_id}-P{seq:06d}"
            self.store.conn.execute(
                "INSERT INTO producers (producer_id, name, phone, village, pin_hash, source, "
                "registered_at, updated_at, card_token) VALUES (?, ?, ?, ?, ?, 'kiosk', ?, ?, ?)",
                [producer_id, name, phone, village, hash_pin(pin), now, now, new_card_token()],
            )
            self._bind_phone(producer_id, phone, now)
        log.info("producer %s registered", producer_id)
        return self.get(producer_id)

    # -- finding ------------------------------------------------------------------

    def get(self, producer_id: str) -> Producer:
        found = self._where("producer_id = ?", [producer_id])
        if not found:
            raise KeyError(producer_id)
        return found[0]

    def by_phone(self, phone: str) -> list[Producer]:
        """Producers whose current phone this is (an old phone no longer logs in: the
        number may have gone to someone else; it still carries its holds)."""
        return self._where("phone = ?", [(phone or "").strip()])

    def by_scan(self, code: str) -> Producer | None:
        """A producer card (``AQP2:<token>``) or a national 主体码; None if unknown.

        A bare producer id or an old ``AQP1:<id>`` card is not an identification: the
        id is sequential, so anyone could print the next producer's card."""
        code = (code or "").strip()
        if code.startswith(CARD_PREFIX):
            token = code[len(CARD_PREFIX) :]
            found = self._where("card_token = ?", [token]) if token else []
        elif code.startswith(OLD_CARD_PREFIX) or _ID.match(code) is None:
            found = []
        else:
            found = self._where("platform_code = ?", [code])
        return found[0] if found else None

    def by_id_number(self, id_number: str) -> Producer | None:
        found = self._where("id_number = ?", [(id_number or "").strip().upper()])
        return found[0] if found else None

    def find(self, identifier: str) -> Producer | None:
        """The producer any identifier names (a staff or CLI lookup): the producer id,
        a card, the 主体码 or the ID number. None when it names nobody."""
        identifier = (identifier or "").strip()
        found = self._where("producer_id = ?", [identifier])
        if found:
            return found[0]
        return self.by_scan(identifier) or self.by_id_number(identifier)

    def resolve(self, issuer: Issuer) -> Issuer:
        """The issuer with its producer key: ``producer_id`` must name a known producer
        (by id, card, 主体码 or ID number); without one, a phone a registered producer
        has bound resolves to that producer. Otherwise the phone is the key (an
        unregistered producer). ``InputError`` for an id that names nobody."""
        if issuer.producer_id:
            producer = self.find(issuer.producer_id)
            if producer is None:
                raise InputError(
                    "producer_id",
                    "unknown_producer",
                    "没有这个生产者（农户卡、主体码或身份证号都不对）：请刷农户卡或先登记",
                )
            return Issuer(issuer.name, issuer.phone, producer.producer_id)
        owners = self._phone_owner(str(issuer.phone or "").strip())
        if owners:
            return Issuer(issuer.name, issuer.phone, sorted(owners)[0])
        return issuer

    # -- binding identifiers ------------------------------------------------------

    def bind(
        self,
        producer_id: str,
        *,
        phone: str | None = None,
        platform_code: str | None = None,
        id_number: str | None = None,
    ) -> Producer:
        """Attach another identifier to a producer (staff, with the producer present).

        A new phone becomes the current one and the old stays bound (holds placed on it
        still apply); a phone, 主体码 or ID number another producer holds is refused."""
        producer = self.get(producer_id)
        now = self.clock().isoformat()
        with self.store.transaction():
            if phone is not None:
                phone = _phone(phone)
                others = self._phone_owner(phone) - {producer_id}
                if others or any(p.producer_id != producer_id for p in self._where(
                    "phone = ?", [phone]
                )):  # fmt: skip
                    raise InputError("phone", "registered", "这个手机号属于另一位生产者")
                self.store.conn.execute(
                    "UPDATE producers SET phone = ?, updated_at = ? WHERE producer_id = ?",
                    [phone, now, producer_id],
                )
                self._bind_phone(producer_id, phone, now)
            if platform_code is not None:
                code = platform_code.strip()
                if not _ID.match(code):
                    raise InputError("platform_code", "reference", "主体码格式不对")
                owner = self._where("platform_code = ?", [code])
                if owner and owner[0].producer_id != producer_id:
                    raise InputError("platform_code", "registered", "这个主体码属于另一位生产者")
                self.store.conn.execute(
                    "UPDATE producers SET platform_code = ?, updated_at = ? WHERE producer_id = ?",
                    [code, now, producer_id],
                )
            if id_number is not None:
                number = id_number.strip().upper()
                if not _ID_NUMBER.match(number):
                    raise InputError(
                        "id_number", "id_number", "证件号码应为18位身份证号或统一社会信用代码"
                    )
                owner = self._where("id_number = ?", [number])
                if owner and owner[0].producer_id != producer_id:
                    raise InputError("id_number", "registered", "这个证件号码属于另一位生产者")
                self.store.conn.execute(
                    "UPDATE producers SET id_number = ?, updated_at = ? WHERE producer_id = ?",
                    [number, now, producer_id],
                )
        log.info("producer %s: identifier bound", producer.producer_id)
        return self.get(producer_id)

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
                    "pin_hash, id_number, source, registered_at, updated_at, card_token) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'roster', ?, ?, ?) ON CONFLICT (producer_id) DO "
                    "UPDATE SET name = excluded.name, phone = excluded.phone, "
                    "village = excluded.village, platform_code = excluded.platform_code, "
                    "pin_hash = coalesce(excluded.pin_hash, producers.pin_hash), "
                    "id_number = coalesce(excluded.id_number, producers.id_number), "
                    "updated_at = excluded.updated_at",
                    [*row, now, now, new_card_token()],
                )
                self._bind_phone(row[0], row[2], now)
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
        id_number = (entry.get("id_number") or "").strip().upper() or None
        if id_number is not None and not _ID_NUMBER.match(id_number):
            raise ValueError("id_number must be an 18-character ID or credit code")
        return [producer_id, _name(entry["name"]), _phone(entry["phone"]),
                str(entry.get("village", "")).strip(), platform, pin_hash,
                id_number]  # fmt: skip

    # -- internals ----------------------------------------------------------------

    def _pin_hash(self, producer_id: str) -> str | None:
        row = self.store.conn.execute(
            "SELECT pin_hash FROM producers WHERE producer_id = ?", [producer_id]
        ).fetchone()
        return row[0] if row else None

    def _phone_owner(self, phone: str) -> set[str]:
        """The producers who have bound this phone (now or before)."""
        rows = self.store.conn.execute(
            "SELECT producer_id FROM producer_phones WHERE phone = ?", [phone]
        ).fetchall()
        return {r[0] for r in rows}

    def _bind_phone(self, producer_id: str, phone: str, now: str) -> None:
        self.store.conn.execute(
            "INSERT OR IGNORE INTO producer_phones (phone, producer_id, bound_at) VALUES (?, ?, ?)",
            [phone, producer_id, now],
        )

    def _where(self, clause: str, params: list) -> list[Producer]:
        rows = self.store.conn.execute(
            "SELECT producer_id, name, phone, village, platform_code, pin_hash IS NOT NULL, "
            f"source, card_token, id_number FROM producers WHERE {clause} ORDER BY producer_id",
            params,
        ).fetchall()
        return [
            Producer(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7] or "", r[8]) for r in rows
        ]
