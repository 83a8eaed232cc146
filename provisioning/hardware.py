"""How remote hardware commands reach the printer and the reader.

On the Pi the UI process (``kiosk run``) holds the printer, scanner and reader open
exclusively; the agent is another process. So the agent never opens them: it writes a
row into ``hardware_requests`` (the shared SQLite database) and waits; the UI loop calls
``HardwareDesk.take()`` between frames, runs the action on the worker thread that owns
the device (ui/jobs.py) and ``answer()``s it (``serve_pending()`` does both in place).
A row still pending at its deadline is marked ``expired`` by the agent (so a UI that
starts later never acts on a stale request) and the command is answered "UI not
running". A headless kiosk (no UI process) gives the agent a
``HardwareDirect`` instead and the actions run in the agent.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from drivers.printer.base import LabelPrinter, PrinterError
from drivers.printer.document import LabelDocument, QrBlock, TextBlock
from drivers.reader.base import FirmwareUpdateError, TestReader
from kiosk.infra.store import Store
from readerlink.errors import LinkError
from readerlink.firmware_image import SignedFirmware
from wire.provisioning import HARDWARE_DEADLINE_S

log = logging.getLogger(__name__)

ACTIONS = (
    "hardware_status",
    "test_print",
    "reader_selftest",
    "reader_calibrate",
    "reader_flash",
    "restart_ui",
)
#: How long the agent waits for the UI to serve a request. A test print or self-test
#: takes seconds; a firmware flash at the reader's baud rate takes longer.
RELAY_TIMEOUT_S = HARDWARE_DEADLINE_S  # station cmd waits for this plus the network
FLASH_TIMEOUT_S = 300.0
#: Agent's poll for the UI's answer (one cheap indexed SELECT).
RELAY_POLL_S = 0.05


class HardwareError(RuntimeError):
    """The action could not run; the message says why (shown to the county)."""


class Hardware(Protocol):
    def run(self, action: str, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        """Run one action; HardwareError when it cannot."""
        ...


def test_label(width: int, height: int, text: str) -> LabelDocument:
    """A test page: device text and a QR, so both paths of the printer are exercised."""
    return LabelDocument(
        width,
        height,
        (
            TextBlock(16, 16, "测试打印 TEST PRINT", 24),
            TextBlock(16, 56, text[:30], 16),
            QrBlock(16, 96, "AGRIQS-TEST", 4, "M", 1),
        ),
    )


class HardwareDirect:
    """Runs actions on devices this process holds (the UI process, or a headless agent)."""

    def __init__(
        self,
        printer: LabelPrinter | None,
        reader: Callable[[], TestReader | None],
        *,
        label: str = "",
        label_size: tuple[int, int] = (480, 320),
        restart_ui: Callable[[], None] | None = None,
    ) -> None:
        self.printer = printer
        self.reader = reader
        self.label = label
        self.label_size = label_size
        self.restart_ui = restart_ui

    def run(self, action: str, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        try:
            return self._run(action, args)
        except PrinterError as error:
            raise HardwareError(f"printer: {error}") from None
        except (LinkError, FirmwareUpdateError) as error:
            raise HardwareError(f"reader: {error}") from None

    def _run(self, action: str, args: dict[str, Any]) -> dict[str, Any]:
        if action == "hardware_status":
            out: dict[str, Any] = {}
            if self.printer is not None:
                status = self.printer.status()
                out["printer"] = {"ready": status.ready, "fault": str(status.fault or "")}
            reader = self.reader()
            if reader is not None:
                info = reader.info()
                health = reader.health()
                out["reader"] = {
                    "firmware": info.firmware_version,
                    "serial": info.serial_number,
                    "lamp": health.lamp_relative,
                    "temperature_ok": health.temperature_ok,
                }
            return out
        if action == "test_print":
            if self.printer is None:
                raise HardwareError("this kiosk has no printer")
            self.printer.print_label(test_label(*self.label_size, self.label))
            return {"printed": 1}
        reader = self.reader() if action.startswith("reader_") else None
        if action.startswith("reader_") and reader is None:
            raise HardwareError("this kiosk has no reader")
        if action == "reader_selftest":
            assert reader is not None
            return _plain(asdict(reader.self_test()))
        if action == "reader_calibrate":
            assert reader is not None
            kind = args.get("kind", "blank")
            channels = args.get("channels")
            if kind == "blank":
                return _plain(asdict(reader.calibrate_blank(channels)))
            if kind == "reference":
                return _plain(asdict(reader.calibrate_reference(channels)))
            raise HardwareError(f"calibration kind must be blank or reference, not {kind!r}")
        if action == "reader_flash":
            assert reader is not None
            firmware = SignedFirmware(
                base64.b64decode(args["image_b64"]),
                str(args["version"]),
                bytes.fromhex(args["sha256"]),
                bytes.fromhex(args["signature"]),
            )
            info = reader.flash_firmware(firmware)
            return {"firmware_version": info.firmware_version, "active_slot": info.active_slot}
        if action == "restart_ui":
            if self.restart_ui is None:
                raise HardwareError("no UI to restart here")
            self.restart_ui()
            return {"restarting": True}
        raise HardwareError(f"unknown hardware action {action!r}")


def _plain(value: Any) -> Any:
    """JSON-safe: tuples to lists, dict keys to text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_plain(v) for v in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat()


class HardwareRelay:
    """The agent's side: queue a request for the UI process and wait for its answer."""

    def __init__(self, store: Store, timeout_s: float = RELAY_TIMEOUT_S) -> None:
        self.store = store
        self.timeout_s = timeout_s

    def run(self, action: str, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        timeout = FLASH_TIMEOUT_S if action == "reader_flash" else self.timeout_s
        deadline = time.time() + timeout
        with self.store.transaction():
            row_id = self.store.conn.execute(
                "INSERT INTO hardware_requests (command_id, action, args, state, created_at, "
                "deadline) VALUES (?, ?, ?, 'pending', ?, ?)",
                [command_id, action, json.dumps(args), _now(), deadline],
            ).lastrowid
        while True:
            state, result = self.store.conn.execute(
                "SELECT state, result FROM hardware_requests WHERE id = ?", [row_id]
            ).fetchone()
            if state == "done":
                return json.loads(result)
            if state == "failed":
                raise HardwareError(json.loads(result).get("error", "failed"))
            if time.time() >= deadline:
                with self.store.transaction():
                    expired = self.store.conn.execute(
                        "UPDATE hardware_requests SET state = 'expired', finished_at = ? "
                        "WHERE id = ? AND state = 'pending'",
                        [_now(), row_id],
                    ).rowcount
                if expired:
                    raise HardwareError(
                        f"UI not running: no answer from the kiosk UI within {timeout:.0f} s"
                    )
                # The UI took it at the last moment: give it the rest of a flash's time.
                deadline = time.time() + FLASH_TIMEOUT_S
            time.sleep(RELAY_POLL_S)


class HardwareDesk:
    """The UI process's side: serve queued requests on the devices it holds."""

    def __init__(self, store: Store, hardware: HardwareDirect) -> None:
        self.store = store
        self.hardware = hardware

    def serve_pending(self, limit: int = 1) -> int:
        """Run up to ``limit`` pending requests here; returns how many ran."""
        served = 0
        while served < limit:
            request = self.take()
            if request is None:
                return served
            try:
                result = self.hardware.run(request.action, request.args, request.command_id)
            except Exception as error:  # the loop must survive any device failure
                self.answer(request, error=error)
            else:
                self.answer(request, result=result)
            served += 1
        return served

    def take(self, actions: tuple[str, ...] | None = None) -> HardwareRequest | None:
        """Mark the oldest pending request (of ``actions``) taken and return it; cheap.

        The touch UI takes requests on its thread and runs each on the worker that owns
        the device (ui/jobs.py), then ``answer``s it, so a flash never blocks the screen.
        """
        where = "state = 'pending' AND deadline > ?"
        params: list[Any] = [time.time()]
        if actions is not None:
            where += f" AND action IN ({', '.join('?' * len(actions))})"
            params.extend(actions)
        query = (
            f"SELECT id, command_id, action, args FROM hardware_requests WHERE {where} "
            "ORDER BY id LIMIT 1"
        )
        # A plain read first: when idle (nearly always) no write lock is asked for, so a
        # worker's transaction never makes the screen wait.
        if self.store.conn.execute(query, params).fetchone() is None:
            return None
        with self.store.transaction():
            row = self.store.conn.execute(query, params).fetchone()
            if row is None:
                return None
            self.store.conn.execute(
                "UPDATE hardware_requests SET state = 'taken' WHERE id = ?", [row[0]]
            )
        return HardwareRequest(row[0], row[1], row[2], json.loads(row[3]))

    def answer(
        self,
        request: HardwareRequest,
        *,
        result: dict[str, Any] | None = None,
        error: BaseException | None = None,
    ) -> None:
        """Write the outcome the agent is waiting for."""
        if error is None:
            state, text = "done", json.dumps(result or {}, ensure_ascii=False)
        else:
            if not isinstance(error, HardwareError):
                log.error("hardware request %s failed: %r", request.id, error)
            message = (
                str(error)
                if isinstance(error, HardwareError)
                else (f"{type(error).__name__}: {error}")
            )
            state, text = "failed", json.dumps({"error": message}, ensure_ascii=False)
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE hardware_requests SET state = ?, result = ?, finished_at = ? WHERE id = ?",
                [state, text, _now(), request.id],
            )


@dataclass(frozen=True)
class HardwareRequest:
    """One request the agent relayed: what to run, for which county command."""

    id: int
    command_id: str | None
    action: str
    args: dict[str, Any]
