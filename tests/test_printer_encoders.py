"""Encoder bytes decoded back (by tests/printer_decode.py, not by the simulator) and scanned."""

from __future__ import annotations

import pytest
import zxingcpp
from support.printer_decode import (
    certificate_like_document,
    escpos_column_label,
    escpos_native_qrs,
    escpos_native_texts,
    escpos_raster_images,
    escpos_raster_label,
    tspl_bitmap_label,
    tspl_commands,
    tspl_qrcodes,
    tspl_texts,
    with_quiet_zone,
)

from drivers.fonts import find_cjk_font
from drivers.printer import escpos_commands as C
from drivers.printer.document import LabelDocument, QrBlock, TextBlock
from drivers.printer.factory import make_encoder
from drivers.printer.profiles import get_profile
from drivers.printer.render import render_label
from drivers.printer.tspl_commands import quote


@pytest.fixture(scope="module")
def font():
    return find_cjk_font()


def _decode_qr(image) -> list[str]:
    return [
        r.text
        for r in zxingcpp.read_barcodes(
            with_quiet_zone(image), formats=zxingcpp.BarcodeFormat.QRCode
        )
    ]


def _encode(profile: str, doc: LabelDocument, font) -> bytes:
    return make_encoder(get_profile(profile), font).encode(doc).first


@pytest.mark.parametrize("profile", ["escpos-80-raster", "escpos-58-raster"])
def test_escpos_gs_v_0_raster_round_trips_to_the_rendered_label(profile, font):
    width = get_profile(profile).width
    doc = certificate_like_document(width)
    data = _encode(profile, doc, font)
    assert data.startswith(C.INIT) and data.endswith(C.CUT_PARTIAL)
    image = escpos_raster_label(data)
    expected = render_label(doc, font)
    assert image.size == expected.size
    assert image.tobytes() == expected.tobytes()  # bit-exact
    assert _decode_qr(image) == [doc.qr_codes()[0].data]


def test_escpos_column_raster_round_trips(font):
    doc = certificate_like_document(576)
    data = _encode("escpos-80-column", doc, font)
    assert C.LINE_SPACING + bytes((24,)) in data  # stripe pitch = stripe height
    image = escpos_column_label(data).crop((0, 0, doc.width, doc.height))
    assert image.tobytes() == render_label(doc, font).tobytes()
    assert _decode_qr(image) == [doc.qr_codes()[0].data]


@pytest.mark.parametrize("profile", ["escpos-80-native", "escpos-58-native"])
def test_escpos_native_text_is_gb18030_in_chinese_mode_and_qr_is_gs_paren_k(profile, font):
    width = get_profile(profile).width
    doc = certificate_like_document(width)
    data = _encode(profile, doc, font)
    native = [t for t in doc.blocks if isinstance(t, TextBlock) and t.size in (24, 48)]
    assert escpos_native_texts(data) == [t.text for t in native]
    assert "品名：大白菜".encode("gb18030") in data
    qrs = escpos_native_qrs(data)
    qr = doc.qr_codes()[0]
    assert [(q.data, q.module, q.level) for q in qrs] == [(qr.data, qr.module, "M")]
    # the printer's own QR, drawn from the command data, scans back to the same URL
    redraw = render_label(LabelDocument(400, 400, (QrBlock(0, 0, qrs[0].data, 3, "M"),)), font)
    assert _decode_qr(redraw) == [qr.data]
    # 16/32-dot text and the rule have no native ESC/POS font: small rasters of those bands
    assert escpos_raster_images(data), "expected raster bands for 16/32-dot text"
    assert len(data) < 3000


def test_escpos_native_full_width_punctuation_alone_still_in_chinese_mode(font):
    doc = LabelDocument(576, 40, (TextBlock(0, 0, "：，。", 24),))
    data = _encode("escpos-80-native", doc, font)
    assert C.CHINESE_ON + "：，。".encode("gb18030") + C.CHINESE_OFF in data
    assert escpos_native_texts(data) == ["：，。"]


def test_tspl_native_text_qr_and_bar(font):
    doc = certificate_like_document(480, 320)
    data = _encode("tspl-60x40", doc, font)
    names = [c.name for c in tspl_commands(data)]
    assert names[:5] == ["SIZE", "GAP", "DIRECTION", "REFERENCE", "CLS"] and names[-1] == "PRINT"
    assert tspl_commands(data)[0].args == ["60 mm", "40 mm"]
    texts = [t.text for t in doc.blocks if isinstance(t, TextBlock)]
    # the bold title is overstruck: sent twice
    assert tspl_texts(data) == [texts[0], *texts]
    fonts = {c.args[2] for c in tspl_commands(data) if c.name == "TEXT"}
    assert fonts == {"TSS16.BF2"}
    (qr,) = tspl_qrcodes(data)
    assert qr.args[:6] == ["288", "48", "M", "3", "A", "0"]
    assert qr.args[6] == doc.qr_codes()[0].data
    assert "BAR" in names
    assert len(data) <= 2048


def test_tspl_quote_escapes_double_quote():
    assert quote('A"B') == b'"A\\["]B"'
    doc = LabelDocument(480, 320, (TextBlock(0, 0, '说"明"', 24),))
    assert tspl_texts(_encode("tspl-60x40", doc, find_cjk_font())) == ['说"明"']


def test_tspl_raster_bitmap_round_trips(font):
    doc = certificate_like_document(480, 320)
    data = _encode("tspl-60x40-raster", doc, font)
    assert [c.name for c in tspl_commands(data)][-2:] == ["BITMAP", "PRINT"]
    image = tspl_bitmap_label(data, 480, 320)
    assert image.tobytes() == render_label(doc, font).tobytes()
    assert _decode_qr(image) == [doc.qr_codes()[0].data]


def test_tspl_repeat_copy_is_print_only(font):
    encoded = make_encoder(get_profile("tspl-60x40"), font).encode(certificate_like_document())
    assert encoded.repeat == b"PRINT 1\r\n"


def test_label_wider_than_the_printer_is_refused(font):
    with pytest.raises(ValueError, match="384"):
        _encode("escpos-58-native", certificate_like_document(576), font)


def _wrap_by_remeasuring(text: str, size: int, width: int) -> list[str]:
    """The reference: measure the whole line again at every token."""
    from drivers.printer.document import _tokens, text_width

    lines: list[str] = []
    line = ""
    for token in _tokens(text):
        if text_width(line + token, size) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = "" if token.isspace() else token
        while text_width(line, size) > width:
            cut = len(line) - 1
            while cut > 1 and text_width(line[:cut], size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    if len(lines) > 1 and len(lines[-1]) == 1 and not lines[-1].isascii() and len(lines[-2]) > 2:
        lines[-2], lines[-1] = lines[-2][:-1], lines[-2][-1] + lines[-1]
    return lines


def test_wrap_text_breaks_where_remeasuring_every_line_would():
    """wrap_text keeps a running line width; mixed CJK, Latin words, spaces, closing
    punctuation and over-long words break exactly as measuring each line again does."""
    from drivers.printer.document import text_width, wrap_text

    samples = [
        "浙江省杭州市示范镇示范村三组，Cabbage 大白菜 25.5 公斤。",
        "Hangzhou Lvyuan Vegetable Cooperative (杭州绿源蔬菜专业合作社)",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-verylongtokenwithoutspaces 短",
        "检测合格，委托检测：杭州市农产品质量检测中心；报告编号 RT-K001-000123。",
    ]
    for text in samples:
        for width in (60, 96, 150, 240, 400):
            lines = wrap_text(text, 24, width)
            assert lines == _wrap_by_remeasuring(text, 24, width), (text, width)
            assert all(text_width(line, 24) <= width for line in lines[:-1]), (text, width)
