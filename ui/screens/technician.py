"""Technician mode: device status, test print, scanner test, reader calibration, recent logs."""

from __future__ import annotations

import logging
import shutil
from importlib import metadata

import pygame

from ui import layout
from ui.screens.base import Screen
from ui.widgets import Button, Label, Widget

log = logging.getLogger(__name__)


def open_technician(app) -> None:
    from ui.screens.staff import open_staff

    open_staff(app, "technician")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def status_lines(app) -> list[tuple[str, str, str]]:
    """(key, text, style) per part: colour and words both say whether it is healthy."""
    kiosk = app.kiosk
    lines = []
    try:
        st = kiosk.printer.status()
        ok = st.ready
        text = "打印机：正常" if ok else f"打印机：{st.fault}"
        if st.paper_low:
            text += "（纸将用完）"
    except Exception as error:  # a status query must not take the screen down
        ok, text = False, f"打印机：{error}"
    lines.append(("printer", text, "ok" if ok else "danger"))
    lines.append(
        (
            "scanner",
            "扫码器：已连接" if kiosk.scanner else "扫码器：未配置",
            "ok" if kiosk.scanner else "warn",
        )
    )
    reader = kiosk.reader
    if reader is None:
        lines.append(("reader", "读数仪：未连接", "warn"))
    else:
        try:
            info = reader.info()
            lines.append(
                ("reader", f"读数仪：{info.serial_number} 固件{info.firmware_version}", "ok")
            )
        except Exception as error:
            lines.append(("reader", f"读数仪：{error}", "danger"))
    gpio = kiosk.indicators
    lines.append(
        (
            "gpio",
            "GPIO：正常" + ("，纸将用完" if gpio and gpio.paper_low() else "")
            if gpio
            else "GPIO：未配置",
            "ok" if gpio else "warn",
        )
    )
    backlog = kiosk.outbox.backlog()
    lines.append(("uplink", f"待上传：{backlog}条", "ok" if backlog < 100 else "warn"))
    free = shutil.disk_usage(kiosk.config.paths.data_dir).free // (1024 * 1024)
    lines.append(("disk", f"磁盘剩余：{free} MB", "ok" if free > 512 else "warn"))
    versions = f"软件 {_version('agriqs-kiosk')} · pygame {pygame.version.ver}"
    lines.append(("versions", versions, "plain"))
    identity = kiosk.config.paths.keys_dir
    lines.append(
        (
            "enrollment",
            f"设备 {kiosk.config.device.county}/{kiosk.config.device.device_id}"
            f"（{'已' if identity.exists() else '未'}生成密钥）",
            "plain",
        )
    )
    return lines


class TechnicianScreen(Screen):
    title_key = "tech_title"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.note = ""

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target], m.gap)
        lines = status_lines(self.app)
        if self.note:
            lines.insert(0, ("note", self.note, "selected"))
        rows = max(1, layout.rows_fit(top.height, max(m.body_px + 16, 40), m.gap))
        cols = 2 if len(lines) > rows else 1
        cells = layout.grid(top, min(rows, -(-len(lines) // cols)), cols, m.gap)
        out: list[Widget] = [
            Label(f"status_{key}", cell, text, m.body_px, style=style, align="left")
            for cell, (key, text, style) in zip(cells, lines, strict=False)
        ]
        feet = layout.split_h(bottom, [1.0] * 4, m.gap)
        out += [
            Button("test_print", feet[0], self.t("test_print"), self.test_print, "printer"),
            Button(
                "scanner_test",
                feet[1],
                self.t("scanner_test"),
                lambda: self.app.push(ScannerTestScreen(self.app)),
                "barcode",
            ),
            Button("calibrate", feet[2], self.t("calibrate"), self.calibrate, "flask"),
            Button(
                "logs", feet[3], self.t("logs"), lambda: self.app.push(LogScreen(self.app)), "list"
            ),
        ]
        return out

    def _hardware(self, action: str, args: dict) -> None:
        from provisioning.hardware import HardwareError

        try:
            result = self.app.hardware.hardware.run(action, args, None)
            self.note = f"{self.t('done')}：{result}"[:80]
        except HardwareError as error:
            self.note = self.t("failed", error=error)
        self.refresh()

    def test_print(self) -> None:
        self._hardware("test_print", {})

    def calibrate(self) -> None:
        self._hardware("reader_calibrate", {"kind": "blank"})

    def on_scan(self, code: str) -> bool:
        self.note = self.t("scanned", code=code)
        self.refresh()
        return True


class ScannerTestScreen(Screen):
    title_key = "scanner_test"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.codes: list[str] = []

    def on_scan(self, code: str) -> bool:
        self.codes.insert(0, code)
        del self.codes[4:]
        self.refresh()
        return True

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        if not self.codes:
            return [Label("scan_hint", area, self.t("scan_something"), m.big_px)]
        cells = layout.split_v(area, [1.0] * len(self.codes), m.gap)
        return [
            Label(f"scan_{i}", cell, self.t("scanned", code=code), m.body_px, frame=True)
            for i, (cell, code) in enumerate(zip(cells, self.codes, strict=True))
        ]


class LogScreen(Screen):
    title_key = "logs"

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        rows = max(1, area.height // (m.body_px + 14))
        lines = list(self.app.logs.lines)[-rows:] or ["-"]
        cells = layout.split_v(area, [1.0] * len(lines), 2)
        return [
            Label(f"log_{i}", cell, line[:90], 24, align="left")
            for i, (cell, line) in enumerate(zip(cells, lines, strict=True))
        ]
