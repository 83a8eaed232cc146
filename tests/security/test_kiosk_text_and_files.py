"""Issue 11 items 8 and 9, kiosk halves: exports, text and files, on a real kiosk.

Before the defence (main at aa4ea2d): the certificate CSV export wrote ``=1+2`` as a
formula; ``13٨١٢٣٤٥٦٧٨`` (Arabic-Indic digits) was a valid phone and ``١٢`` a quantity;
a name of braille blanks (U+2800) or Hangul fillers (U+3164) was issued and printed as
nothing; producer names and sample notes kept newlines, ESC and U+202E; under umask 0
the database, its -wal/-shm and the agent's log were world-readable.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from support.kiosk import configured, request

import app.agent
from app.compose import open_kiosk
from kiosk.config import SIGNING_KEY_FILE
from kiosk.domain.model import Issuer
from kiosk.domain.validation import InputError, parse_quantity, spreadsheet_cell
from kiosk.infra import backup, floors
from wire import files
from wire.signing import SigningKey

ARABIC_PHONE = "13٨١٢٣٤٥٦٧٨"
INVISIBLE = ["\u2800\u2800", "\u3164\u3164", "王\u200b芳", "\u115f\u1160"]
HOSTILE_TEXT = ["数量\n填错", "\x1b[31m红", "abc\u202edef", "a\rb"]


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--data-dir", str(data), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_csv_export_cells_are_never_formulas(kiosk) -> None:
    kiosk.issuance.issue(request(issuer=Issuer("=1+2", "13812345678"), origin="@SUM(A1) 示范村"))
    kiosk.issuance.issue(request(issuer=Issuer("+86张", "13812345678"), origin="-3+3 示范村"))
    out = io.StringIO()
    kiosk.issuance.export_csv(out, kiosk.issuance.list())
    rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert "'=1+2" in cells and "'@SUM(A1) 示范村" in cells and "'-3+3 示范村" in cells
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert spreadsheet_cell(prefix + "x") == "'" + prefix + "x"
    assert spreadsheet_cell(3) == 3


def test_phones_and_quantities_take_ascii_digits_only(kiosk) -> None:
    with pytest.raises(InputError, match="电话"):
        kiosk.issuance.issue(request(issuer=Issuer("张秀英", ARABIC_PHONE)))
    with pytest.raises(InputError):
        kiosk.producers.register("张秀英", ARABIC_PHONE, "示范村", "2580")
    with pytest.raises(InputError):
        kiosk.rapid_tests.register_sample(
            "S-1", producer_name="张秀英", phone=ARABIC_PHONE, product_code="V001"
        )
    for text in ("١٢", "１２", "12٫5"):
        with pytest.raises(InputError):
            parse_quantity(text)
    assert parse_quantity("12.5") == Decimal("12.5")
    assert kiosk.issuance.list() == []


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_names_are_refused_everywhere(kiosk, name) -> None:
    with pytest.raises(InputError):
        kiosk.issuance.issue(request(issuer=Issuer(name, "13812345678")))
    with pytest.raises(InputError):
        kiosk.producers.register(name, "13812345678", "示范村", "2580")
    with pytest.raises(InputError):
        kiosk.rapid_tests.register_sample(
            "S-1", producer_name=name, phone="13812345678", product_code="V001"
        )


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_free_text_is_checked_like_issuance_fields(kiosk, text) -> None:
    number = kiosk.issuance.issue(request()).certificate.number
    with pytest.raises(InputError):
        kiosk.issuance.void(number, text)
    with pytest.raises(InputError):
        kiosk.rapid_tests.register_sample(
            "S-1", producer_name="张秀英", phone="13812345678", product_code="V001", note=text
        )
    with pytest.raises(InputError):
        kiosk.rapid_tests.register_sample(
            "S-2", producer_name=f"张{text}", phone="13812345678", product_code="V001"
        )
    assert kiosk.issuance.get(number).status.value != "voided"


def test_free_text_from_the_cli_is_refused(tmp_path) -> None:
    data = tmp_path / "data"
    registered = cli(data, "test", "register", "--sample", "S-9", "--producer", "张\x1b[2J秀英",
                     "--phone", "13812345678", "--product", "V001")  # fmt: skip
    assert registered.returncode != 0 and "S-9" not in registered.stdout
    issued = cli(data, "issue", "--issuer", "张秀英", "--phone", "13812345678", "--product",
                 "V001", "--quantity", "10", "--origin", "浙江省示范村", "--json")  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    voided = cli(data, "void", "330100-K001-0000001", "--reason", "错\u202e误")
    assert voided.returncode != 0
    listed = cli(data, "certificates", "list", "--json")
    assert "voided" not in listed.stdout


def test_files_with_personal_data_or_secrets_are_private_whatever_the_umask(tmp_path) -> None:
    data = tmp_path / "data"
    old = os.umask(0)
    try:
        with open_kiosk(configured(data)) as kiosk:
            kiosk.producers.register("张秀英", "13812345678", "示范村", "2580")
            kiosk.issuance.issue(request())
            handler = app.agent._log_to_file(kiosk.config)
            logging.getLogger("test").warning("张秀英 13812345678")
            logging.getLogger().removeHandler(handler)
            handler.close()
            modes = {p.name: p.stat().st_mode & 0o777 for p in data.rglob("*") if p.is_file()}
        exported = cli(data, "certificates", "export", "--out", str(tmp_path / "out.csv"))
        shown = cli(data, "certificates", "show", "330100-K001-0000001", "--png",
                    str(tmp_path / "label.png"))  # fmt: skip
    finally:
        os.umask(old)
    assert modes["kiosk.db"] == 0o600 and modes["kiosk.db-wal"] == 0o600, modes
    assert modes["kiosk.db-shm"] == 0o600 and modes[SIGNING_KEY_FILE] == 0o600, modes
    assert modes["agent.log"] == 0o640 and modes[floors.FLOOR_FILE] == 0o600, modes
    readable = {n: m for n, m in modes.items() if m & 0o004}
    assert readable == {}, readable
    assert exported.returncode == 0 and shown.returncode == 0, exported.stderr + shown.stderr
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "label.png").stat().st_mode & 0o777 == 0o600


def test_a_database_left_world_readable_is_tightened_on_open(tmp_path) -> None:
    data = tmp_path / "data"
    open_kiosk(configured(data)).close()
    os.chmod(data / "kiosk.db", 0o644)
    open_kiosk(configured(data)).close()
    assert (data / "kiosk.db").stat().st_mode & 0o777 == 0o600


def test_the_signing_key_and_backups_fsync_their_directory(tmp_path, monkeypatch) -> None:
    synced: list[Path] = []
    real = files.fsync_dir
    monkeypatch.setattr(files, "fsync_dir", lambda path: (synced.append(Path(path)), real(path)))
    key_path = tmp_path / "keys" / SIGNING_KEY_FILE
    SigningKey.generate().save(key_path)
    assert synced == [key_path.parent]
    with open_kiosk(configured(tmp_path / "data")) as kiosk:
        kiosk.issuance.issue(request())
    synced.clear()
    made = backup.create_backup(tmp_path / "data", tmp_path / "b", device="K001")
    assert made.parent in synced
