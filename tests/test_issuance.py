"""Issuance end to end: validate, record, sign, print through the simulated printers,
decode what was printed with a real QR decoder, verify it, compare with the record."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from decimal import Decimal

import pytest
import zxingcpp
from PIL import Image
from support import printer_decode
from support.kiosk import ARTIFACTS, request, row_counts

from kiosk.domain.model import Basis, CertificateStatus, Issuer, Style
from kiosk.domain.validation import InputError
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.kiosk import Kiosk
from wire.verify import verify_qr_text


def decode_qr(image: Image.Image) -> list[str]:
    framed = printer_decode.with_quiet_zone(image.convert("L"))
    return [r.text for r in zxingcpp.read_barcodes(framed, formats=zxingcpp.BarcodeFormat.QRCode)]


def assert_fields_match(kiosk: Kiosk, qr_text: str, number: str) -> None:
    verdict = verify_qr_text(qr_text, kiosk.trust_list(), kiosk.clock())
    assert verdict.valid, verdict.message
    cert = kiosk.issuance.get(number)
    f = verdict.fields
    assert f is not None
    assert (f.number, f.product, f.quantity, f.origin, f.issuer, f.phone, f.basis) == (
        cert.number,
        cert.product_name,
        cert.quantity_text,
        cert.origin,
        cert.issuer.name,
        cert.issuer.phone,
        cert.basis.value,
    )
    assert f.issued_at == cert.issued_at


@pytest.mark.parametrize(
    ("profile", "paper", "decode"),
    [
        ("tspl-60x40", "label-60x40", "tspl-native"),
        ("tspl-60x40-raster", "label-60x40", "tspl-bitmap"),
        ("escpos-80-raster", "roll-80", "escpos-raster"),
        ("escpos-58-raster", "roll-58", "escpos-raster"),
        ("escpos-80-native", "roll-80", "escpos-native"),
    ],
)
def test_printed_label_decodes_verifies_and_matches_the_record(
    make_kiosk: Callable[..., Kiosk], profile: str, paper: str, decode: str
) -> None:
    kiosk = make_kiosk(profile=profile, paper=paper)
    outcome = kiosk.issuance.issue(
        request(
            basis=Basis.COMMISSIONED_TEST,
            test_ref="ZJ-LAB-2026-0042",
            lab_name="巴中市农产品质量安全检测中心",
            copies=1,
        )
    )
    assert outcome.printed and outcome.copies_done == 1
    number = outcome.certificate.number
    assert kiosk.issuance.get(number).status is CertificateStatus.PRINTED
    data = bytes(kiosk.printer.simulated_device.received)
    document = kiosk.issuance.layout(outcome.certificate)
    if decode == "tspl-native":
        qr_texts = [c.args[-1] for c in printer_decode.tspl_qrcodes(data)]
        assert set(document.texts()) <= set(printer_decode.tspl_texts(data))
    elif decode == "escpos-native":
        qr_texts = [q.data for q in printer_decode.escpos_native_qrs(data)]
        printed_text = "".join(printer_decode.escpos_native_texts(data))
        for line in document.texts():
            assert line in printed_text
    else:
        if decode == "tspl-bitmap":
            image = printer_decode.tspl_bitmap_label(data, document.width, document.height)
        else:
            image = printer_decode.escpos_raster_label(data)
        ARTIFACTS.mkdir(exist_ok=True)
        image.save(ARTIFACTS / f"label-{profile}.png")
        qr_texts = decode_qr(image)
    assert qr_texts == [outcome.certificate.qr_text]
    assert_fields_match(kiosk, qr_texts[0], number)


def test_copies_and_outbox_events(kiosk: Kiosk) -> None:
    progress: list[tuple[int, int]] = []
    outcome = kiosk.issuance.issue(request(copies=2), progress=lambda d, t: progress.append((d, t)))
    assert outcome.copies_done == 2 and progress == [(1, 2), (2, 2)]
    assert kiosk.printer.simulated_device.label_count == 2
    schemas = [r[0] for r in kiosk.store.conn.execute("SELECT schema FROM outbox ORDER BY seq")]
    assert schemas == ["certificate.issued", "certificate.printed"]
    assert kiosk.issuance.get(outcome.certificate.number).print_count == 2


def test_numbers_are_sequential_and_unique(kiosk: Kiosk) -> None:
    numbers = [kiosk.issuance.issue(request()).certificate.number for _ in range(3)]
    assert numbers == [f"330100-K001-{i:07d}" for i in (1, 2, 3)]


def test_paper_out_mid_job_leaves_a_recorded_unprinted_certificate(kiosk: Kiosk) -> None:
    device = kiosk.printer.simulated_device
    device.run_out_of_paper_after(1)
    outcome = kiosk.issuance.issue(request(copies=3))
    assert not outcome.printed
    assert outcome.error is not None and outcome.error.fault.value == "paper_out"
    assert outcome.copies_done == 1
    cert = kiosk.issuance.get(outcome.certificate.number)
    assert cert.status is CertificateStatus.ISSUED and cert.print_count == 1
    alarm = kiosk.store.conn.execute(
        "SELECT body FROM outbox WHERE schema = 'alarm.raised'"
    ).fetchone()
    assert '"paper_out"' in alarm[0]
    # Reload paper and reprint: same number, marked 补打, now printed.
    device.load_paper()
    again = kiosk.issuance.reprint(cert.number, copies=2)
    assert again.printed and again.certificate.number == cert.number
    assert again.certificate.status is CertificateStatus.PRINTED
    data = bytes(device.received)
    assert "补打：★" in printer_decode.tspl_texts(data)
    assert kiosk.issuance.list() == [again.certificate]


def test_printer_offline_at_start_refuses_before_a_number_is_spent(kiosk: Kiosk) -> None:
    kiosk.printer.simulated_device.go_offline()
    before = row_counts(kiosk)
    floor = kiosk.numbers.read_floor()
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request())
    assert refused.value.code == "printer_not_ready" and "没有占用证号" in refused.value.message
    assert "no number was used" in refused.value.message_en
    assert kiosk.issuance.list() == [] and kiosk.numbers.read_floor() == floor
    assert row_counts(kiosk)["certificates"] == before["certificates"]
    assert kiosk.alarms.is_open("printer_offline")  # the county hears of it all the same
    kiosk.printer.simulated_device.go_online()
    assert kiosk.issuance.printer_ready() is None
    assert kiosk.issuance.issue(request()).certificate.number.endswith("0000001")


def test_void_keeps_the_number_and_refuses_reprint(kiosk: Kiosk) -> None:
    number = kiosk.issuance.issue(request()).certificate.number
    voided = kiosk.issuance.void(number, "数量填错")
    assert voided.status is CertificateStatus.VOIDED
    with pytest.raises(IssuanceRefused, match="作废"):
        kiosk.issuance.reprint(number)
    with pytest.raises(IssuanceRefused):
        kiosk.issuance.void(number, "again")
    following = kiosk.issuance.issue(request()).certificate.number
    assert following != number and following.endswith("0000002")


def test_hold_blocks_issuance_with_plain_words(kiosk: Kiosk) -> None:
    issuer = Issuer("张秀英", "13812345678")
    kiosk.holds.place(issuer.producer_key, "V001", "有机磷阳性", "RT-K001-000009")
    before = row_counts(kiosk)
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request(issuer=issuer))
    assert refused.value.code == "hold" and "暂停开证" in refused.value.message
    assert row_counts(kiosk) == before
    # Another product of the same producer is not held.
    assert kiosk.issuance.issue(request(issuer=issuer, product_code="V002")).printed


def database_digest(kiosk: Kiosk) -> str:
    """SHA-256 of every table's rows, in order: a refusal must leave all of it as it was."""
    digest = hashlib.sha256()
    for line in kiosk.store.conn.iterdump():
        digest.update(line.encode())
    return digest.hexdigest()


BAD_INPUTS = [
    ({"issuer": Issuer("", "13812345678")}, "issuer.name"),
    ({"issuer": Issuer("张\x07三", "13812345678")}, "issuer.name"),
    ({"issuer": Issuer("张三\u202e", "13812345678")}, "issuer.name"),
    ({"issuer": Issuer("张" * 51, "13812345678")}, "issuer.name"),
    ({"issuer": Issuer("张三", "0827-555123")}, "issuer.phone"),
    ({"issuer": Issuer("张三", "08275551234567")}, "issuer.phone"),
    ({"product_code": "L001", "unit": "头", "quantity": Decimal(3)}, "quarantine_cert"),
    (
        {
            "product_code": "L001",
            "unit": "头",
            "quantity": Decimal(3),
            "quarantine_cert": "51-0001",
        },
        "quarantine_cert",
    ),
    ({"quarantine_cert": "5100012345"}, "quarantine_cert"),
    (
        {
            "product_code": "L002",
            "unit": "头",
            "quantity": Decimal(2),
            "quarantine_cert": "5100012345",
            "ear_tags": ("151190200000001",),
        },
        "ear_tags",
    ),
    (
        {
            "product_code": "L002",
            "unit": "头",
            "quantity": Decimal(1),
            "quarantine_cert": "5100012345",
            "ear_tags": ("15119020000000X",),
        },
        "ear_tags",
    ),
    (
        {
            "product_code": "L001",
            "unit": "头",
            "quantity": Decimal(1),
            "quarantine_cert": "5100012345",
            "ear_tags": ("151190200000001",),
        },
        "ear_tags",
    ),
    ({"issuer": Issuer("12345", "13812345678")}, "issuer.name"),
    ({"issuer": Issuer("张三", "1381234567")}, "issuer.phone"),
    ({"issuer": Issuer("张三", "23812345678")}, "issuer.phone"),
    ({"product_code": "X001"}, "product"),
    ({"product_code": "NOPE"}, "product"),
    ({"unit": "头"}, "unit"),
    ({"quantity": Decimal(0)}, "quantity"),
    ({"quantity": Decimal(-3)}, "quantity"),
    ({"quantity": Decimal("NaN")}, "quantity"),
    ({"quantity": Decimal("Infinity")}, "quantity"),
    ({"quantity": Decimal(60000)}, "quantity"),
    ({"quantity": Decimal("1.234")}, "quantity"),
    ({"product_code": "L001", "unit": "头", "quantity": Decimal("2.5")}, "quantity"),
    ({"origin": "镇"}, "origin"),
    ({"origin": "浙" * 25}, "origin"),
    ({"origin": "浙江\n杭州"}, "origin"),
    ({"basis": Basis.SELF_TEST}, "test_ref"),
    ({"basis": Basis.COMMISSIONED_TEST}, "test_ref"),
    ({"basis": Basis.COMMISSIONED_TEST, "test_ref": "RT 1; DROP"}, "test_ref"),
    ({"inputs_used": ("agent_orange",)}, "inputs_used"),
    ({"source_certificate": "330100-K002-0000001"}, "source_certificate"),
    ({"style": Style.BUYER}, "sources"),
    ({"style": Style.BUYER, "source_certificate": "330100-K002-0000001"}, "sources"),
    ({"style": Style.BUYER, "sources": ("HTTPS://QS.X/V/forged",)}, "sources"),
    ({"sources": ("330100-K001-0000001",)}, "sources"),
    ({"basis": Basis.COMMISSIONED_TEST, "test_ref": "R-1"}, "lab_name"),
    ({"basis": Basis.QUALITY_CONTROL, "lab_name": "巴中市农检中心"}, "lab_name"),
    (
        {
            "basis": Basis.COMMISSIONED_TEST,
            "test_ref": "ZJ-2026-LAB-00012345",
            "lab_name": "四川省巴中市巴州区清江镇农产品质量安全检验检测中心第二实验室分部",
            "issuer": Issuer("杭州市示范镇绿源蔬菜专业合作", "0571-88889999"),
            "origin": "浙江省杭州市示范县示范镇示范村第十三村民小组",
            "quantity": Decimal("49999.99"),
        },
        "lab_name",
    ),
    ({"copies": 0}, "copies"),
    ({"copies": 21}, "copies"),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_bad_input_is_refused_and_changes_nothing(
    kiosk: Kiosk, overrides: dict, field: str
) -> None:
    before = row_counts(kiosk)
    digest = database_digest(kiosk)
    floor = kiosk.numbers.read_floor()
    with pytest.raises(InputError) as refused:
        kiosk.issuance.issue(request(**overrides))
    assert refused.value.field == field
    assert refused.value.message  # a sentence for the farmer, not a stack trace
    assert row_counts(kiosk) == before
    assert database_digest(kiosk) == digest  # not one byte of any table changed
    assert kiosk.numbers.read_floor() == floor
    assert kiosk.printer.simulated_device.label_count == 0


def test_self_test_basis_needs_a_passing_test_of_this_station(kiosk: Kiosk) -> None:
    before = row_counts(kiosk)
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request(basis=Basis.SELF_TEST, test_ref="K001-T000099"))
    assert refused.value.code == "evidence" and "快检记录" in refused.value.message
    assert row_counts(kiosk) == before


def test_buyer_style_names_the_source_certificate(kiosk: Kiosk) -> None:
    grower = Issuer("李四", "13912345678")  # a buyer re-issues what it bought from another
    supplied = kiosk.issuance.issue(request(issuer=grower, quantity=Decimal(30))).certificate.number
    outcome = kiosk.issuance.issue(request(style=Style.BUYER, source_certificate=supplied))
    assert outcome.certificate.template_id == "2025-style2"
    assert outcome.certificate.sources == (supplied,)
    texts = printer_decode.tspl_texts(bytes(kiosk.printer.simulated_device.received))
    assert f"来源合格证：{supplied}" in texts
    assert "收购者：张秀英" in texts


def test_2020_template_is_selected_by_configuration(make_kiosk: Callable[..., Kiosk]) -> None:
    kiosk = make_kiosk(certificate={"template_edition": "2020"})
    outcome = kiosk.issuance.issue(request())
    assert outcome.certificate.template_id == "2020-style1"
    texts = printer_decode.tspl_texts(bytes(kiosk.printer.simulated_device.received))
    assert "承诺依据：内部质量控制" in texts


def test_full_database_refuses_and_loses_nothing(kiosk: Kiosk) -> None:
    kiosk.issuance.issue(request())
    before = row_counts(kiosk)
    pages = kiosk.store.conn.execute("PRAGMA page_count").fetchone()[0]
    kiosk.store.conn.execute(f"PRAGMA max_page_count = {pages}")
    long_origin = "浙江省杭州市示范镇示范村"
    refused = 0
    for _ in range(50):  # fill the last free pages, then the refusal must come
        try:
            kiosk.issuance.issue(request(origin=long_origin))
        except IssuanceRefused as error:
            assert error.code == "disk_full" and "存储空间" in error.message
            refused += 1
            break
    assert refused == 1
    after = row_counts(kiosk)
    assert after["certificates"] >= before["certificates"]
    # Every recorded certificate is intact and the database is healthy.
    assert kiosk.store.integrity_check() == []
    for cert in kiosk.issuance.list():
        assert verify_qr_text(cert.qr_text, kiosk.trust_list(), kiosk.clock()).valid


def test_low_disk_space_refuses_before_writing(make_kiosk: Callable[..., Kiosk]) -> None:
    kiosk = make_kiosk(paths={"min_free_mb": 10**9})
    with pytest.raises(IssuanceRefused) as refused:
        kiosk.issuance.issue(request())
    assert refused.value.code == "disk_full"
    assert row_counts(kiosk)["certificates"] == 0


def test_preview_writes_nothing(kiosk: Kiosk) -> None:
    draft, document = kiosk.issuance.preview(request())
    assert draft.number == "330100-K001-*******"  # given at printing, not before
    assert document.qr_codes() and row_counts(kiosk)["certificates"] == 0
    assert kiosk.numbers.read_floor() == 0


def test_csv_export(kiosk: Kiosk, tmp_path) -> None:
    import csv
    import io

    kiosk.issuance.issue(request())
    kiosk.issuance.issue(request(product_code="F001"))
    out = io.StringIO()
    assert kiosk.issuance.export_csv(out, kiosk.issuance.list()) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["product_name"] for r in rows} == {"青菜", "苹果"}
    assert rows[0]["quantity"] == "12.5"


def test_sqlite_is_wal_and_synchronous_full(kiosk: Kiosk) -> None:
    conn = sqlite3.connect(kiosk.store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert kiosk.store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


def test_issue_reprint_void_and_holds_are_audited_in_a_chain(kiosk: Kiosk) -> None:
    number = kiosk.issuance.issue(request()).certificate.number
    kiosk.issuance.reprint(number)
    kiosk.issuance.void(number, "数量填错")
    hold = kiosk.holds.place("tel:13812345678", "V002", "阳性", "K001-T000001")
    kiosk.holds.lift(hold.id, "county:inspector-1")
    kinds = [e.kind for e in kiosk.audit.entries()]
    assert kinds == [
        "certificate.issued",
        "certificate.reprinted",
        "certificate.voided",
        "hold.placed",
        "hold.lifted",
    ]
    assert kiosk.audit.verify().ok
