"""Label geometry: everything on the paper, the QR large with a clear quiet zone, no overlaps."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import zxingcpp
from support.kiosk import ARTIFACTS, request

from drivers.fonts import find_cjk_font
from drivers.printer.document import QrBlock, Rule, TextBlock
from drivers.printer.render import render_label
from kiosk.domain.model import Basis, Issuer
from kiosk.services.kiosk import Kiosk
from kiosk.services.labels import MIN_QR_DOTS, QUIET_ZONE_MODULES

LONGEST = {
    "issuer": Issuer("杭州市示范镇绿源蔬菜专业合作", "0571-88889999"),
    "origin": "浙江省杭州市示范县示范镇示范村第十三村民小组",
    "basis": Basis.COMMISSIONED_TEST,
    "test_ref": "ZJ-2026-LAB-00012345",
    "lab_name": "巴中市农检中心",
    "quantity": "49999.99",
}


def box(block: TextBlock | QrBlock | Rule) -> tuple[int, int, int, int]:
    if isinstance(block, TextBlock):
        return block.x, block.y, block.x + block.width, block.y + block.size
    if isinstance(block, QrBlock):
        return block.x, block.y, block.x + block.size, block.y + block.size
    return block.x, block.y, block.x + block.width, block.y + block.height


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("paper", ["label-60x40", "roll-80", "roll-58"])
@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("fields", ["typical", "longest"])
def test_layout_geometry(
    make_kiosk: Callable[..., Kiosk], paper: str, language: str, fields: str
) -> None:
    profile = {"label-60x40": "tspl-60x40", "roll-80": "escpos-80-native"}.get(
        paper, "escpos-58-native"
    )
    kiosk = make_kiosk(profile=profile, paper=paper, ui={"language": language})
    overrides = LONGEST if fields == "longest" else {}
    cert = kiosk.issuance.issue(request(**overrides)).certificate
    document = kiosk.issuance.layout(cert, reprint=True)
    boxes = [box(b) for b in document.blocks]
    for b in boxes:
        assert b[0] >= 0 and b[1] >= 0 and b[2] <= document.width and b[3] <= document.height
    (qr,) = document.qr_codes()
    assert qr.size >= MIN_QR_DOTS
    quiet = QUIET_ZONE_MODULES * qr.module
    zone = (qr.x - quiet, qr.y - quiet, qr.x + qr.size + quiet, qr.y + qr.size + quiet)
    others = [box(b) for b in document.blocks if b is not qr]
    assert not [o for o in others if overlaps(o, zone)], "something intrudes the QR quiet zone"
    texts = [box(b) for b in document.blocks if isinstance(b, TextBlock)]
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert not overlaps(a, b)
    image = render_label(document, find_cjk_font())
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / f"certificate-{paper}-{language}-{fields}.png")
    decoded = [
        r.text
        for r in zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    ]
    assert decoded == [cert.qr_text]


def test_the_preview_draws_its_qr_once_and_it_still_scans(
    make_kiosk: Callable[..., Kiosk], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The confirm screen renders the preview on the UI thread each time it opens; the
    QR's mask search (~40 ms here, more on a Pi) runs for the first only."""
    import segno

    from drivers.printer import render

    kiosk = make_kiosk()
    made: list[str] = []
    make_qr = segno.make_qr

    def counted(data: str, **kwargs: object) -> object:
        made.append(data)
        return make_qr(data, **kwargs)

    monkeypatch.setattr(segno, "make_qr", counted)
    render.qr_matrix.cache_clear()
    images = [render_label(kiosk.issuance.preview(request())[1], find_cjk_font())
              for _ in range(3)]  # fmt: skip
    assert len(made) == 1
    assert images[0].tobytes() == images[2].tobytes()
    found = zxingcpp.read_barcodes(images[2].convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    decoded = [r.text for r in found]
    assert decoded == made
