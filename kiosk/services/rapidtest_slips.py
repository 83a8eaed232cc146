"""The 快速检测结果单 (rapid-test result slip) the farmer takes home after a run.

It names the sample, producer, product, batch, method, kit lot, tester and time, gives
the result in words, and carries a QR signed with the kiosk's certificate key in the
certificates' own layout (wire/qr.py, basis code ``rapidtest_slip``): it verifies
offline with the trust list and on the county's scan page, and certificate checks
(样式二 sources, the scan page's certificate status) refuse it as a certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from drivers.printer.document import LabelDocument, QrBlock, TextBlock, text_width
from kiosk.domain.model import format_quantity
from kiosk.services.rapidtest_records import RapidTestRecords
from wire.clock import CST
from wire.qr import (
    MAX_QR_VERSION,
    SLIP_BASIS,
    CertificateFields,
    build_qr_text,
    encode_body,
    qr_version,
    signed_message,
)
from wire.signing import SigningKey

WORDS = {"negative": "阴性（未检出或低于判定值）", "suspicious": "可疑（须复检）",
         "positive": "阳性（已确认）", "invalid": "无效（须重做）"}  # fmt: skip
LINE = 28


@dataclass(frozen=True)
class Slip:
    test_id: str
    qr_text: str
    lines: tuple[str, ...]
    documents: tuple[LabelDocument, ...]


def result_slip(
    records: RapidTestRecords,
    test_id: str,
    *,
    county: str,
    signer: SigningKey,
    verify_url: str,
    width: int = 576,
    height: int | None = None,
) -> Slip:
    """The slip of one result, signed, laid out for paper ``width`` dots wide (a roll when
    ``height`` is None; on fixed labels two: the words, then the QR)."""
    r = records.result(test_id)
    sample = records.sample(r.sample_id)
    product = records.catalogue.products[sample.product_code]
    method = records.methods.methods.get(r.method_id)
    standard = method.standard if method else r.method_id
    finished = datetime.fromisoformat(r.finished_at).astimezone(CST)
    batch = (f"{format_quantity(sample.batch_quantity)}{sample.batch_unit}"
             if sample.batch_quantity is not None else "")  # fmt: skip
    value = "" if r.value is None or r.verdict == "invalid" else f" {r.value:.1f}{r.unit}"
    words = WORDS[r.verdict] + value
    fields = CertificateFields(
        number=f"{county}-{r.test_id}", product=product.name, quantity=batch,
        origin=sample.sampling_place, issuer=sample.producer_name, phone=sample.phone,
        issued_at=finished.replace(second=0, microsecond=0), basis=SLIP_BASIS,
        template_code=0, test_ref=words,
        source_certificate=f"{r.method_id}|{r.kit_lot}|{r.sample_id}",
    )  # fmt: skip
    body = encode_body(fields)
    qr = build_qr_text(verify_url, body, signer.sign(signed_message(verify_url, body)))
    version = qr_version(qr)
    if version > MAX_QR_VERSION:
        raise ValueError(f"slip QR too large (version {version})")
    lines = (
        f"检测编号：{r.test_id}",
        f"样品：{r.sample_id}  第{r.portion}份",
        f"生产者：{sample.producer_name}",
        f"产品：{product.name}  批次：{batch or '未登记'}",
        f"方法：{standard}",
        f"试剂批号：{r.kit_lot or '未记录'}",
        f"检测员：{r.tester or '未记录'}",
        f"时间：{finished:%Y-%m-%d %H:%M}",
        f"结果：{words}",
    )
    return Slip(r.test_id, qr, lines, _layout(lines, qr, version, width, height))


def _layout(
    lines: tuple[str, ...], qr: str, version: int, width: int, height: int | None
) -> tuple[LabelDocument, ...]:
    """One document on a roll; on fixed-height labels the words, then the QR."""
    texts: list[TextBlock | QrBlock] = [TextBlock(16, 8, "快速检测结果单", 32)]
    y = 48
    for line in lines:
        texts.append(TextBlock(16, y, line, 24))
        y += LINE
    module = max(2, min(4, (min(width, height or width) - 80) // (17 + 4 * version)))
    size = (17 + 4 * version) * module
    note = "扫码核验真伪；快检结果不作为最终判定依据"
    if height is None:
        texts.append(QrBlock((width - size) // 2, y + 16, qr, module, "M", version))
        y += 16 + size + 24
        texts.append(TextBlock(16, y, note, 24 if text_width(note, 24) <= width - 32 else 16))
        return (LabelDocument(width, y + 40, tuple(texts)),)
    words = LabelDocument(width, height, tuple(texts))
    qr_page = LabelDocument(width, height, (
        QrBlock((width - size) // 2, 8, qr, module, "M", version),
        TextBlock(16, min(height - 24, 8 + size + 8), note, 16),
    ))  # fmt: skip
    return (words, qr_page)
