"""Finding a CJK font on the machine: labels and screens must never show tofu boxes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: Debian/Raspberry Pi OS locations, small fonts first (WenQuanYi Micro Hei is ~5 MB).
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)


class FontMissingError(RuntimeError):
    """No CJK font is installed; the message says which package to install."""


def find_cjk_font(configured: Path | None = None) -> Path:
    if configured is not None:
        if not configured.is_file():
            raise FontMissingError(f"configured font {configured} does not exist")
        return configured
    for candidate in CJK_FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    if shutil.which("fc-match"):
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True
        ).stdout.strip()
        if found and Path(found).is_file() and "DejaVu" not in found:
            return Path(found)
    raise FontMissingError(
        "no CJK font found: install fonts-wqy-microhei (apt-get install fonts-wqy-microhei)"
    )
