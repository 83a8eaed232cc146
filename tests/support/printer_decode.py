"""Turn captured printer bytes back into images and commands, independently of the driver.

Written separately from ``drivers.printer.sim`` on purpose: a test that decodes the
encoder's bytes with the simulator's own parser would prove only that both agree.
Also builds a certificate-like ``LabelDocument`` for tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from drivers.printer.document import LabelDocument, QrBlock, Rule, TextBlock

ESC, GS, FS = 0x1B, 0x1D, 0x1C


# ---- ESC/POS ------------------------------------------------------------------------------
@dataclass(frozen=True)
class EscposQr:
    data: str
    module: int
    level: str


def _u16(buf: bytes, i: int) -> int:
    return buf[i] | buf[i + 1] << 8


def _walk_escpos(data: bytes):
    """Yield (kind, payload) for GS v 0, ESC *, GS ( k and FS & text; skips the rest."""
    i = 0
    while i < len(data):
        b = data[i]
        if b == GS and data[i + 1 : i + 3] == b"v0":
            wb, h = _u16(data, i + 4), _u16(data, i + 6)
            yield "gs_v_0", (wb, h, data[i + 8 : i + 8 + wb * h])
            i += 8 + wb * h
        elif b == ESC and data[i + 1 : i + 2] == b"*":
            m, w = data[i + 2], _u16(data, i + 3)
            per_col = 3 if m in (32, 33) else 1
            yield "esc_star", (w, per_col, data[i + 5 : i + 5 + w * per_col])
            i += 5 + w * per_col
        elif b == GS and data[i + 1 : i + 2] in (b"(",):
            length = _u16(data, i + 3)
            yield "gs_paren_" + chr(data[i + 2]), data[i + 5 : i + 5 + length]
            i += 5 + length
        elif b == FS and data[i + 1 : i + 2] == b"&":
            end = data.index(bytes((FS,)) + b".", i + 2)
            yield "text", data[i + 2 : end]
            i = end + 2
        else:
            i += 1


def escpos_raster_images(data: bytes) -> list[Image.Image]:
    """Each ``GS v 0`` image in the stream (1 bits are printed dots -> black)."""
    images = []
    for kind, payload in _walk_escpos(data):
        if kind == "gs_v_0":
            wb, h, bits = payload
            images.append(_bits_to_image(bits, wb, h, dark=1))
    return images


def escpos_raster_label(data: bytes) -> Image.Image:
    """All ``GS v 0`` images stacked top to bottom: a raster-only label."""
    return _stack(escpos_raster_images(data))


def escpos_column_label(data: bytes) -> Image.Image:
    """``ESC *`` stripes stacked: 24-dot stripes are column-major, 3 bytes per column."""
    stripes = []
    for kind, payload in _walk_escpos(data):
        if kind == "esc_star":
            w, per_col, bits = payload
            rows = per_col * 8
            stripe = Image.new("1", (w, rows), 1)
            px = stripe.load()
            for x in range(w):
                for y in range(rows):
                    if bits[x * per_col + y // 8] & (0x80 >> (y % 8)):
                        px[x, y] = 0
            stripes.append(stripe)
    return _stack(stripes)


def escpos_native_qrs(data: bytes) -> list[EscposQr]:
    """QR codes sent as ``GS ( k`` store (fn 80) + print (fn 81), with their settings."""
    module, level, stored, out = 3, "L", b"", []
    for kind, body in _walk_escpos(data):
        if kind != "gs_paren_k" or body[:1] != b"1":
            continue
        fn = body[1]
        if fn == 67:
            module = body[2]
        elif fn == 69:
            level = "LMQH"[body[2] - 48]
        elif fn == 80:
            stored = body[3:]
        elif fn == 81:
            out.append(EscposQr(stored.decode("utf-8"), module, level))
    return out


def escpos_native_texts(data: bytes) -> list[str]:
    """Text sent in Chinese mode (``FS &`` ... ``FS .``), decoded from GB18030."""
    return [p.decode("gb18030") for kind, p in _walk_escpos(data) if kind == "text"]


# ---- TSPL ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TsplCommand:
    name: str
    args: list[str]  # quoted strings decoded from GB18030; BITMAP data left out


def _tspl_args(raw: bytes) -> list[str]:
    args, i = [], 0
    while i < len(raw):
        if raw[i : i + 1] == b'"':
            j = i + 1
            while j < len(raw) and raw[j : j + 1] != b'"':
                j += 4 if raw[j : j + 4] == b'\\["]' else 1
            args.append(raw[i + 1 : j].replace(b'\\["]', b'"').decode("gb18030"))
            i = j + 2
        else:
            j = raw.find(b",", i)
            j = len(raw) if j < 0 else j
            args.append(raw[i:j].decode("ascii").strip())
            i = j + 1
    return args


def tspl_commands(data: bytes) -> list[TsplCommand]:
    out, i = [], 0
    while i < len(data):
        if data[i] == ESC:
            out.append(TsplCommand("<ESC>" + data[i + 1 : i + 3].decode("ascii"), []))
            i += 3
            continue
        if data.startswith(b"BITMAP", i):
            head_end = i
            for _ in range(5):
                head_end = data.index(b",", head_end) + 1
            x, y, wb, h, mode = data[i + 7 : head_end - 1].decode().split(",")
            end = head_end + int(wb) * int(h)
            out.append(TsplCommand("BITMAP", [x, y, wb, h, mode, data[head_end:end].hex()]))
            i = end + 2
            continue
        end = data.index(b"\r\n", i)
        word, _, rest = data[i:end].partition(b" ")
        out.append(TsplCommand(word.decode("ascii"), _tspl_args(rest)))
        i = end + 2
    return out


def tspl_bitmap_label(data: bytes, width: int, height: int) -> Image.Image:
    """The label's BITMAP commands drawn on white; in TSPL a 0 bit prints a dot."""
    image = Image.new("1", (width, height), 1)
    for cmd in tspl_commands(data):
        if cmd.name == "BITMAP":
            x, y, wb, h = (int(v) for v in cmd.args[:4])
            image.paste(_bits_to_image(bytes.fromhex(cmd.args[5]), wb, h, dark=0), (x, y))
    return image


def tspl_texts(data: bytes) -> list[str]:
    return [c.args[6] for c in tspl_commands(data) if c.name == "TEXT"]


def tspl_qrcodes(data: bytes) -> list[TsplCommand]:
    return [c for c in tspl_commands(data) if c.name == "QRCODE"]


# ---- shared -------------------------------------------------------------------------------
def _bits_to_image(bits: bytes, width_bytes: int, height: int, dark: int) -> Image.Image:
    image = Image.frombytes("1", (width_bytes * 8, height), bytes(bits))
    if dark == 1:  # PIL "1" packs 1 = white; ESC/POS 1 = black
        image = Image.frombytes("1", image.size, bytes(b ^ 0xFF for b in bits))
    return image


def _stack(images: list[Image.Image]) -> Image.Image:
    width = max(im.width for im in images)
    out = Image.new("1", (width, sum(im.height for im in images)), 1)
    y = 0
    for im in images:
        out.paste(im, (0, y))
        y += im.height
    return out


def with_quiet_zone(image: Image.Image, margin: int = 24) -> Image.Image:
    """A white border, as the label's surroundings give a scanner."""
    out = Image.new("L", (image.width + 2 * margin, image.height + 2 * margin), 255)
    out.paste(image.convert("L"), (margin, margin))
    return out


def sample_url(length: int = 350) -> str:
    """An uppercase alphanumeric verify URL of about ``length`` characters, like the kiosk's."""
    head = "HTTPS://NCP.EXAMPLE.GOV.CN/V/"
    body = "".join(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ$%*+-./:"[(i * 7) % 44] for i in range(length)
    )
    return (head + body)[:length]


def certificate_like_document(width: int = 480, height: int = 320) -> LabelDocument:
    """Chinese title, 7 field lines, 2 lines of small commitment text and a ~350-char QR.

    Laid out for 60x40 mm (480x320) with the QR at the right; on rolls (width 576 or
    384) the QR goes below the fields and the title is 48 dots, as a roll layout would.
    """
    fields = [
        "品名：大白菜",
        "数量：120 千克",
        "产地：红星镇王家村",
        "承诺主体：张三家庭农场",
        "电话：13800138000",
        "开具日期：2026-03-01 09:30",
        "编号：3301-0042-000123",
    ]
    commitment = ["我承诺对产品质量安全以及合格证真实性负责：", "不使用禁用农药兽药，自行检测合格"]
    url = sample_url()
    if width == 480:
        blocks: list[TextBlock | QrBlock | Rule] = [
            TextBlock(8, 4, "承诺达标合格证", 32, bold=True)
        ]
        blocks.append(Rule(8, 40, 464, 2))
        blocks += [TextBlock(8, 46 + 24 * i, f, 16) for i, f in enumerate(fields)]
        blocks.append(QrBlock(288, 48, url, 3, "M"))
        blocks += [TextBlock(8, 284 + 16 * i, t, 16) for i, t in enumerate(commitment)]
        return LabelDocument(width, height, tuple(blocks))
    blocks = [TextBlock(8, 4, "承诺达标合格证", 48, bold=True), Rule(8, 56, width - 16, 2)]
    blocks += [TextBlock(8, 64 + 28 * i, f, 24) for i, f in enumerate(fields)]
    y = 64 + 28 * len(fields) + 4
    blocks += [TextBlock(8, y + 18 * i, t, 16) for i, t in enumerate(commitment)]
    qr_y = y + 18 * len(commitment) + 8
    module = 4 if width >= 576 else 3
    blocks.append(QrBlock(8, qr_y, url, module, "M"))
    return LabelDocument(width, qr_y + 65 * module + 16, tuple(blocks))
