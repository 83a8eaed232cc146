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


PRINTER_WORDS = {
    "offline": "没有连接",
    "paper_out": "缺纸",
    "cover_open": "盖子开着",
    "error": "报告故障",
}


def _simulated(app, part: object) -> str:
    """ "（模拟）" after a simulated part's name, so nobody takes it for the real one."""
    simulated = hasattr(part, "simulated_device") or hasattr(part, "controls")
    return app.i18n.t("simulated") if simulated else ""


def status_lines(app) -> list[tuple[str, str, str]]:
    """(key, text, style) per part: colour and words both say whether it is healthy.

    Nothing here talks to a device: the printer's status is what its worker last
    read, the reader's what its worker last said (asked on entering this screen).
    """
    kiosk = app.kiosk
    lines = []
    st = app.printer_status
    sim = _simulated(app, kiosk.printer)
    if st is None:
        lines.append(("printer", f"打印机{sim}：正在询问", "plain"))
    else:
        fault = PRINTER_WORDS.get(st.fault.value if st.fault else "", "未知")
        text = f"打印机{sim}：正常" if st.ready else f"打印机{sim}：{fault}"
        if st.paper_low:
            text += "（纸将用完）"
        lines.append(("printer", text, "ok" if st.ready else "danger"))
    scanner = kiosk.scanner
    lines.append(
        (
            "scanner",
            f"扫码器{_simulated(app, scanner)}：已连接" if scanner else "扫码器：未配置",
            "ok" if scanner else "warn",
        )
    )
    reader = kiosk.reader
    facts = app.reader_facts
    if reader is None:
        lines.append(("reader", "读数仪：未连接", "warn"))
    elif "error" in facts:
        lines.append(("reader", f"读数仪：{facts['error']}", "danger"))
    elif facts:
        lines.append(
            (
                "reader",
                f"读数仪{_simulated(app, reader)}：{facts['serial']} 固件{facts['firmware']}",
                "ok",
            )
        )
    else:
        lines.append(("reader", f"读数仪{_simulated(app, reader)}：正在询问", "plain"))
    gpio = kiosk.indicators
    lines.append(
        (
            "gpio",
            "指示灯和按钮：正常" + ("，纸将用完" if gpio and gpio.paper_low() else "")
            if gpio
            else "指示灯和按钮：未配置",
            "ok" if gpio else "warn",
        )
    )
    backlog = kiosk.outbox.backlog()
    lines.append(("uplink", f"待上传：{backlog}条", "ok" if backlog < 100 else "warn"))
    free = shutil.disk_usage(kiosk.config.paths.data_dir).free // (1024 * 1024)
    lines.append(("disk", f"磁盘剩余：{free} MB", "ok" if free > 512 else "warn"))
    clock = app.clock_problem  # what the loop's health check last found
    lines.append(
        ("clock", f"时钟：{clock[0]}", "danger")
        if clock
        else ("clock", f"时钟：可信（{kiosk.clock():%Y-%m-%d %H:%M}）", "ok")
    )
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


def ask_reader(app) -> None:
    """Refresh ``app.reader_facts`` on the reader's worker (skipped while it is busy)."""
    if app.kiosk.reader is None or app.device_busy("reader"):
        return

    def work(services, control) -> dict:
        info = services.reader.info()
        return {"serial": info.serial_number, "firmware": info.firmware_version}

    def done(kind: str, data: dict) -> None:
        if kind == "job_done":
            app.reader_facts = data["result"]
        else:
            app.reader_facts = {"error": plain_error(data.get("error"))}

    app.run_job(None, "reader", work, label="reader info", expected_s=10.0, on_finish=done)


def plain_error(error: object) -> str:
    """Words for a technician, not an exception's internals."""
    text = str(error or "")
    if "closed" in text or "disconnect" in text.lower() or "not open" in text:
        return "连接断开，请检查连线后重试"
    if "timed out" in text or "timeout" in text.lower() or "did not" in text:
        return "没有响应，请检查电源和连线"
    return "操作没有完成，请查看日志"


class TechnicianScreen(Screen):
    title_key = "tech_title"
    farmer = False

    def __init__(self, app) -> None:
        super().__init__(app)
        self.note = ""
        self.note_style = "selected"

    def on_enter(self) -> None:
        super().on_enter()
        ask_reader(self.app)

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target], m.gap)
        lines = status_lines(self.app)
        if self.note:
            lines.insert(0, ("note", self.note, self.note_style))
        rows = max(1, layout.rows_fit(top.height, max(m.body_px + 16, 40), m.gap))
        cols = 2 if len(lines) > rows else 1
        cells = layout.grid(top, min(rows, -(-len(lines) // cols)), cols, m.gap)
        out: list[Widget] = [
            Label(f"status_{key}", cell, text, m.body_px, style=style, align="left")
            for cell, (key, text, style) in zip(cells, lines, strict=False)
        ]
        simulation = self.app.kiosk.config.device.simulation
        feet = layout.split_h(bottom, [1.0] * (5 if simulation else 4), m.gap)
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
        if simulation:
            from ui.screens.simulation import SimulationScreen

            out.append(
                Button(
                    "sim_panel",
                    feet[4],
                    self.t("sim_panel"),
                    lambda: self.app.push(SimulationScreen(self.app)),
                    "sim",
                    "warn",
                )
            )
        return out

    def _hardware(self, action: str, args: dict, device: str, words: str) -> None:
        """Run one of the county's hardware actions on the device's own worker."""
        if self.app.device_busy(device):
            self.note, self.note_style = self.t("job_busy", device=device), "warn"
            self.refresh()
            return
        direct = self.app.hardware.hardware
        self.note, self.note_style = self.t("busy"), "plain"

        def done(kind: str, data: dict) -> None:
            if kind == "job_done":
                self.note, self.note_style = self.t(words), "ok"
            else:
                error = data.get("error")
                log.warning("technician %s failed: %s", action, error)
                self.note = self.t("failed", error=plain_error(error))
                self.note_style = "danger"
            if self in self.app.stack:
                self.refresh()

        self.app.run_job(
            None,
            device,
            lambda services, control: direct.run(action, args, None),
            label=action,
            expected_s=60.0,
            on_finish=done,
        )
        self.refresh()

    def test_print(self) -> None:
        self._hardware("test_print", {}, "printer", "hw_printed")

    def calibrate(self) -> None:
        self._hardware("reader_calibrate", {"kind": "blank"}, "reader", "hw_calibrated")

    def on_scan(self, code: str) -> bool:
        self.note, self.note_style = self.t("scanned", code=code), "selected"
        self.refresh()
        return True


class ScannerTestScreen(Screen):
    title_key = "scanner_test"
    farmer = False

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
    """The latest log lines, newest last; long lines wrap rather than being cut."""

    title_key = "logs"
    farmer = False

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        size = max(24, m.body_px - 4)
        rows = max(1, area.height // (size * 2 + 10))
        lines = list(self.app.logs.lines)[-rows:] or ["-"]
        cells = layout.split_v(area, [1.0] * len(lines), 2)
        return [
            Label(f"log_{i}", cell, line[:160], size, align="left")
            for i, (cell, line) in enumerate(zip(cells, lines, strict=True))
        ]
