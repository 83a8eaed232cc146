"""Certificate label layouts for each paper: one LabelDocument per certificate.

Sizes are in printer dots at 203 dpi (8 dots/mm). Text sizes come from
``TEXT_SIZES`` so printers with native fonts draw the same layout as raster
ones; every line is wrapped under the shared cell model.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.printer.document import (
    LabelDocument,
    QrBlock,
    Rule,
    TextBlock,
    text_width,
    wrap_text,
)
from kiosk.config import PAPER_SIZES
from kiosk.domain.catalogue import Template
from kiosk.domain.model import Certificate
from wire.clock import CST
from wire.qr import qr_version

DOTS_PER_MM = 8
#: The QR must be at least 20 mm wide without its quiet zone.
MIN_QR_DOTS = 20 * DOTS_PER_MM
#: ISO/IEC 18004 quiet zone, in modules.
QUIET_ZONE_MODULES = 4
MARGIN = 8  # 1 mm: thermal heads do not reach the very edge


@dataclass(frozen=True)
class Paper:
    name: str
    width: int
    height: int | None  # None: a roll, the label is as long as its content


PAPERS = {name: Paper(name, width, height) for name, (width, height) in PAPER_SIZES.items()}
#: A simulated kiosk's labels say so in their title: a demonstration is never mistaken
#: for a real certificate (docs/certificates.md).
DEMO_MARK = {"zh-CN": "【演示】", "en": "[DEMO] "}


def _module_for(version: int, minimum_dots: int = MIN_QR_DOTS) -> int:
    modules = 17 + 4 * version
    return max(3, -(-minimum_dots // modules))


def _field_lines(
    cert: Certificate, template: Template, language: str, reprint: bool
) -> list[tuple[str, str]]:
    label = lambda key: template.label(key, language)  # noqa: E731
    product = cert.product_name
    rows = [
        (label("product"), product),
        (label("quantity"), cert.quantity_text),
        (label("origin"), cert.origin),
        (label("issuer"), cert.issuer.name),
        (label("phone"), cert.issuer.phone),
        (label("issued_at"), cert.issued_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")),
        (label("basis"), _basis_text(cert, template, language)),
    ]
    if cert.quarantine_cert:  # 畜禽: the 动物检疫合格证明, 肉牛 every ear tag
        rows.append((label("quarantine"), cert.quarantine_cert))
    if cert.ear_tags:
        rows.append((label("ear_tags"), "、".join(cert.ear_tags)))
    if cert.sources or cert.source_certificate:  # 样式二: every source, 混装 included
        rows.append((label("source"), "、".join(cert.sources or (cert.source_certificate or "",))))
    if reprint:
        rows.append((label("reprint"), "★"))
    return rows


def _flow(
    rows: list[tuple[str, str]],
    size: int,
    beside: int,
    across: int,
    y: int,
    qr_bottom: int,
    sep: str,
) -> tuple[list[tuple[int, str]], int]:
    """Lines of ``rows`` from ``y``: ``beside`` wide next to the QR, ``across`` below it."""
    placed: list[tuple[int, str]] = []
    for name, value in rows:
        rest = f"{name}{sep}{value}"
        while rest:
            width = beside if y < qr_bottom else across
            lines = wrap_text(rest, size, width) or [rest]
            if y >= qr_bottom or len(lines) == 1:  # the rest fits this width as wrapped
                for line in lines:
                    placed.append((y, line))
                    y += size + 2
                break
            placed.append((y, lines[0]))
            y += size + 2
            rest = rest[len(lines[0]) :].lstrip()
    return placed, y


def _basis_text(cert: Certificate, template: Template, language: str) -> str:
    """The basis, naming what it rests on: 自行检测合格 its sample (so the batch),
    委托检测合格 the lab and its report number."""
    basis = template.basis_label(cert.basis.value, language)
    open_, close = ("(", ")") if language == "en" else ("（", "）")
    if cert.sample_id:
        return f"{basis}{open_}{template.label('sample', language)} {cert.sample_id}{close}"
    if cert.lab_name:
        return f"{basis}{open_}{cert.lab_name} {cert.test_ref or ''}{close}"
    return basis


def _split_number(number: str, size: int, width: int) -> list[str]:
    """Break a certificate number only after its hyphens."""
    lines: list[str] = []
    for part in number.replace("-", "-\n").split("\n"):
        if lines and text_width(lines[-1] + part, size) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return lines


def _lines(rows: list[tuple[str, str]], size: int, width: int, sep: str) -> list[str]:
    out: list[str] = []
    for name, value in rows:
        head = f"{name}{sep}"
        wrapped = wrap_text(head + value, size, width)
        out.extend(wrapped)
    return out


def layout_certificate(
    cert: Certificate,
    template: Template,
    paper_name: str,
    *,
    language: str = "zh-CN",
    reprint: bool = False,
    demo: bool = False,
) -> LabelDocument:
    paper = PAPERS[paper_name]
    if paper.height is not None:
        return _layout_label(cert, template, paper, language, reprint, demo)
    return _layout_roll(cert, template, paper, language, reprint, demo)


def _title(template: Template, language: str, demo: bool = False) -> str:
    title = template.labels_en["title"] if language == "en" else template.title
    return DEMO_MARK["en" if language == "en" else "zh-CN"] + title if demo else title


def _commitment(template: Template, language: str) -> str:
    return template.commitment_en if language == "en" else template.commitment


def _layout_label(
    cert: Certificate, template: Template, paper: Paper, language: str, reprint: bool, demo: bool
) -> LabelDocument:
    """60×40 mm: fields left, QR right, commitment below, the number large at the foot."""
    assert paper.height is not None
    version = qr_version(cert.qr_text)
    module = _module_for(version)
    qr_dots = (17 + 4 * version) * module
    quiet = QUIET_ZONE_MODULES * module
    qr_x = paper.width - MARGIN - qr_dots - max(0, quiet - MARGIN)
    qr_y = max(MARGIN, quiet)
    blocks: list = []
    sep = ": " if language == "en" else "："
    left_width = qr_x - quiet - MARGIN
    title = _title(template, language, demo)
    fitting = [s for s in (32, 24, 16) if text_width(title, s) <= left_width] or [16]
    rows = _field_lines(cert, template, language, reprint)
    bottom_of_qr = qr_y + qr_dots + quiet
    body = paper.width - 2 * MARGIN
    commitment = wrap_text(_commitment(template, language), 16, body)
    number = f"{template.label('number', language)}{sep}{cert.number}"
    widest = 32 if text_width(number, 32) <= body else 24
    # Tighter and tighter until it fits: fields beside the QR then across the label
    # below it, the small field font, the smaller number, the smaller title.
    tries = [
        (fitting[0], 24, widest), (fitting[0], 16, widest), (fitting[0], 16, 24),
        (fitting[-1], 16, 24),
    ]  # fmt: skip
    for title_size, field_size, size in tries:
        top = MARGIN + title_size + 10
        y_number = paper.height - MARGIN - size
        placed, end = _flow(rows, field_size, left_width, body, top, bottom_of_qr, sep)
        if max(end, bottom_of_qr) + len(commitment) * 18 <= y_number:
            break
    blocks.append(TextBlock(MARGIN, MARGIN, title, title_size, bold=True))
    blocks.append(Rule(MARGIN, MARGIN + title_size + 4, left_width, 2))
    for line_y, line in placed:
        blocks.append(TextBlock(MARGIN, line_y, line, field_size))
    blocks.append(QrBlock(qr_x, qr_y, cert.qr_text, module, "M", version))
    y = max(end, bottom_of_qr)
    for line in commitment:
        blocks.append(TextBlock(MARGIN, y, line, 16))
        y += 18
    if y > y_number:
        raise ValueError(
            f"certificate {cert.number} does not fit a {paper.name} label "
            f"(content ends at {y}, number starts at {y_number})"
        )
    blocks.append(TextBlock(MARGIN, y_number, number, size, bold=True))
    return LabelDocument(paper.width, paper.height, tuple(blocks))


def _layout_roll(
    cert: Certificate, template: Template, paper: Paper, language: str, reprint: bool, demo: bool
) -> LabelDocument:
    """Rolls: one column; title, number, fields, commitment, QR centred, then a feed margin."""
    width = paper.width - 2 * MARGIN
    sep = ": " if language == "en" else "："
    blocks: list = []
    y = MARGIN
    title = _title(template, language, demo)
    size = 48 if text_width(title, 48) <= width else 24
    for line in wrap_text(title, size, width):
        blocks.append(TextBlock((paper.width - text_width(line, size)) // 2, y, line, size, True))
        y += size + 4
    blocks.append(Rule(MARGIN, y, width, 3))
    y += 10
    # The number on lines of its own at 48 dots, native on ESC/POS and TSPL; a 58 mm
    # roll breaks it after a hyphen rather than shrink it into a raster band.
    blocks.append(TextBlock(MARGIN, y, f"{template.label('number', language)}{sep}", 24))
    y += 28
    for line in _split_number(cert.number, 48, width):
        blocks.append(TextBlock(MARGIN, y, line, 48, bold=True))
        y += 52
    for line in _lines(_field_lines(cert, template, language, reprint), 24, width, sep):
        blocks.append(TextBlock(MARGIN, y, line, 24))
        y += 28
    y += 4
    for line in wrap_text(_commitment(template, language), 24, width):
        blocks.append(TextBlock(MARGIN, y, line, 24))
        y += 28
    version = qr_version(cert.qr_text)
    module = _module_for(version, minimum_dots=MIN_QR_DOTS + 40)
    qr_dots = (17 + 4 * version) * module
    quiet = QUIET_ZONE_MODULES * module
    y += quiet
    blocks.append(QrBlock((paper.width - qr_dots) // 2, y, cert.qr_text, module, "M", version))
    y += qr_dots + quiet + 3 * DOTS_PER_MM  # leave room to tear off past the head
    return LabelDocument(paper.width, y, tuple(blocks))
