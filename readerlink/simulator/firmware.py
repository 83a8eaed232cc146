"""Firmware of the simulated reader MCU: link handling, request handlers, runs, faults.

Everything runs on one thread fed by the UART's receive callback, as an MCU main loop
with its interrupts would. Physical state lives in `Flash` and survives resets.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from readerlink.adapt import ErrorMeter
from readerlink.arq import ArqEndpoint, is_sequenced
from readerlink.codec import CorruptFrame, Frame, FrameDecoder, encode_frame
from readerlink.crc import crc32c
from readerlink.errors import PayloadError
from readerlink.messages import (
    MIN_PROTOCOL_VERSION,
    NO_RUN,
    PROTOCOL_VERSION,
    BootReason,
    CalFlag,
    Capability,
    EnzymeSample,
    ErrorEvent,
    FwBegin,
    HealthReply,
    Heartbeat,
    HelloReply,
    MsgType,
    Reader,
    RunDone,
    SelfTestReply,
    Status,
    StripChunk,
    mask_channels,
    pack_channel_values,
    pack_reply,
    unpack_request,
)
from readerlink.simulator import physics
from readerlink.simulator.bootloader import Bootloader
from readerlink.simulator.control import ControlError
from readerlink.simulator.port import PtyPort

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
WATCHDOG_S = 1.0  # a hung image is reset by the watchdog after this long
BOOT_NOTICE_S = 0.1  # least gap between BOOT notices while unsynced
STRIP_SCAN_S = 2.0  # simulated seconds for one strip scan
STRIP_CHUNK_POINTS = 48
TICK_S = 0.002


@dataclass
class SimConfig:
    """Everything the simulator CLI sets."""

    link_path: Path
    baudrate: int = 115200
    time_scale: float = 1.0
    seed: int = 1
    serial_number: str = "AQR12-SIM-0001"
    firmware_version: str = "1.0.0"
    trusted_key: bytes | None = None
    calibrated: bool = True
    ambient_c: float = 24.0
    truth_log: Path | None = None
    bit_error_rate: float = 0.0
    drop_rate: float = 0.0
    reset_mid_run: float | None = None
    cut_update_at: float | None = None
    stall_every_s: float | None = None
    stall_s: float = 0.5
    # The newest protocol version this firmware speaks: 1 is a reader from before SACK
    # and coded frames, which refuses HELLO(2) and ignores coded frames as garbage.
    protocol_version: int = PROTOCOL_VERSION
    #: A file standing in for the reader's flash: calibration survives the simulator
    #: process (a kiosk CLI call starts one per command), as it survives a power cycle.
    flash_path: Path | None = None


@dataclass
class Flash:
    """State kept across resets: the bootloader's slots and the optics' calibration."""

    bootloader: Bootloader
    optics: physics.Optics
    run_counter: int = 0


@dataclass
class _Run:
    run_id: int
    kind: str
    start: float  # wall clock
    points: int
    interval_wall: float
    channels: list[int] = field(default_factory=list)
    index: int = 0
    digest: int = 0
    count: int = 0
    rng: random.Random = field(default_factory=random.Random)
    kinetics: dict[int, physics.EnzymeKinetics] = field(default_factory=dict)
    temps: list[float] = field(default_factory=list)
    interval_s: float = 0.0
    data: dict = field(default_factory=dict)


class SimulatedMcu:
    """The MCU: owns the link endpoint and the instrument, driven by one thread."""

    def __init__(self, config: SimConfig) -> None:
        self.cfg = config
        self._rng = random.Random(config.seed)
        optics = physics.Optics(seed=config.seed)
        self.flash = Flash(Bootloader(config.firmware_version, config.trusted_key), optics)
        if config.calibrated:
            self._calibrate_blank(list(range(physics.CHANNELS)), random.Random(config.seed))
        self._load_flash()
        self.enzyme_samples = {ch: physics.EnzymeSample() for ch in range(physics.CHANNELS)}
        self.strip_sample = physics.StripSample()
        self.port = PtyPort(config.link_path, config.baudrate, self._on_uart, self._rng)
        self.port.noise.bit_error_rate = config.bit_error_rate
        self.port.noise.drop_rate = config.drop_rate
        self._inbox: queue.Queue[bytes] = queue.Queue()
        self._controls: queue.Queue[tuple[str, dict[str, float], queue.Queue]] = queue.Queue()
        self._stop = threading.Event()
        self._timers: list[tuple[float, str, float]] = []
        self._fw_size = 1
        self._next_stall = (
            time.monotonic() + config.stall_every_s if config.stall_every_s else float("inf")
        )
        self._boot(BootReason.POWER_ON)

    # -- lifecycle ----------------------------------------------------------
    def _boot(self, reason: BootReason) -> None:
        override = self.flash.bootloader.boot()
        self.boot_reason = override if override is not None else reason
        self.boot_id = int.from_bytes(os.urandom(4), "little")  # random, never seeded
        self.booted_at = time.monotonic()
        meter = ErrorMeter()
        self.arq = ArqEndpoint(meter=meter, byte_time=10 / self.cfg.baudrate)
        self.decoder = FrameDecoder(coded=self.cfg.protocol_version >= 2, meter=meter)
        self.synced = False
        self.negotiated = False
        self.run: _Run | None = None
        self.hung = not self.flash.bootloader.running.boots
        self._last_boot_notice = 0.0
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        self._stalled_until = 0.0
        self._timers = []
        log.info(
            "boot %08x reason=%s slot=%d fw=%s%s",
            self.boot_id,
            self.boot_reason.name,
            self.flash.bootloader.active,
            self.flash.bootloader.running.version,
            " (hangs)" if self.hung else "",
        )
        if not self.hung:
            self._raw(MsgType.BOOT, struct.pack("<IB", self.boot_id, int(self.boot_reason)))

    def reboot(self, reason: BootReason) -> None:
        self.port.flush_tx()
        while not self._inbox.empty():
            self._inbox.get_nowait()
        self._boot(reason)

    def start(self) -> None:
        self.port.start()
        threading.Thread(target=self._main_loop, name="mcu", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.port.stop()

    def _on_uart(self, data: bytes) -> None:
        self._inbox.put(data)

    # -- main loop ----------------------------------------------------------
    def _main_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._inbox.get(timeout=TICK_S)
            except queue.Empty:
                data = b""
            now = time.monotonic()
            try:
                self._step(data, now)
            except Exception:  # a firmware bug must not kill the simulator silently
                log.exception("firmware fault; rebooting")
                self.reboot(BootReason.WATCHDOG)

    def _step(self, data: bytes, now: float) -> None:
        self._take_controls(now)  # the jig acts on the hardware, hung firmware or not
        if self.hung:
            if now - self.booted_at > WATCHDOG_S:
                self.reboot(BootReason.WATCHDOG)
            return
        if now >= self._next_stall:
            self._stalled_until = now + self.cfg.stall_s
            self._next_stall = now + (self.cfg.stall_every_s or float("inf"))
        if now < self._stalled_until:
            if data:
                self._inbox.put(data)  # keep it until the stall ends
                time.sleep(TICK_S)
            return
        if data:
            for item in self.decoder.feed(data):
                self._on_frame(item, now)
        self._run_timers(now)
        if self.run is not None:
            self._advance_run(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_S
            self._raw(MsgType.HEARTBEAT, self._heartbeat())
        self._flush(now)

    def _flush(self, now: float) -> None:
        for frame in self.arq.poll(now):
            self.port.write(frame)

    def _raw(self, msg_type: MsgType, payload: bytes = b"", seq: int = 0) -> None:
        self.port.write(encode_frame(msg_type, seq, payload))

    def _heartbeat(self) -> bytes:
        state = 2 if self.flash.bootloader.updating else (1 if self.run else 0)
        uptime = int((time.monotonic() - self.booted_at) * 1000) & 0xFFFFFFFF
        return Heartbeat(self.boot_id, uptime, state, round(self._temperature() * 100)).pack()

    def _sim_seconds(self) -> float:
        return (time.monotonic() - self.booted_at) * self.cfg.time_scale

    def _temperature(self) -> float:
        return physics.block_temperature(self._rng, self._sim_seconds(), self.cfg.ambient_c)

    # -- link ---------------------------------------------------------------
    def _on_frame(self, item: Frame | CorruptFrame, now: float) -> None:
        if isinstance(item, CorruptFrame):
            if self.synced:
                for frame in self.arq.on_corrupt(item):
                    self.port.write(frame)
            return
        t = item.msg_type
        if t == MsgType.LINK_RESET:
            self._link_reset(item.payload)
        elif not self.synced:
            if is_sequenced(t) and now - self._last_boot_notice > BOOT_NOTICE_S:
                self._last_boot_notice = now
                self._raw(MsgType.BOOT, struct.pack("<IB", self.boot_id, int(self.boot_reason)))
        elif t == MsgType.ACK:
            self.arq.on_ack(item.seq, now)
        elif t == MsgType.NAK:
            for frame in self.arq.on_nak(item.seq, now):
                self.port.write(frame)
        elif t == MsgType.SACK and self.cfg.protocol_version >= 2:
            for frame in self.arq.on_sack(item.seq, item.payload, now):
                self.port.write(frame)
        elif is_sequenced(t):
            delivered, replies = self.arq.on_data(item)
            for reply in replies:
                self.port.write(reply)
            for message in delivered:
                self._on_message(message)

    def _link_reset(self, payload: bytes) -> None:
        if len(payload) != 4:
            return
        if self.run is not None:
            log.info("link reset aborts run %d", self.run.run_id)
            self.run = None
        self.arq.reset()
        self.negotiated = False
        self.synced = True
        self._raw(MsgType.LINK_RESET_ACK, payload + struct.pack("<I", self.boot_id))

    def _on_message(self, frame: Frame) -> None:
        t = frame.msg_type
        if t == MsgType.FW_CHUNK:
            if len(frame.payload) >= 4:
                (offset,) = struct.unpack_from("<I", frame.payload)
                self.flash.bootloader.write(offset, frame.payload[4:])
                self._check_cut_update()
            return
        try:
            req_id, body = unpack_request(frame.payload)
        except PayloadError:
            return
        handler = self._handlers().get(t)
        if handler is None:
            self._reply(t, req_id, Status.UNSUPPORTED, b"")
            return
        try:
            status, reply = handler(body)
        except PayloadError as exc:
            status, reply = Status.BAD_REQUEST, str(exc).encode()[:200]
        self._reply(t, req_id, status, reply)

    def _reply(self, t: int, req_id: int, status: Status, body: bytes) -> None:
        if status != Status.OK and not body:
            body = status.name.encode()
        if status != Status.OK:
            body = bytes((min(255, len(body)),)) + body[:255]
        self.arq.enqueue(t + 1, pack_reply(req_id, int(status), body))

    def _handlers(self) -> dict:
        return {
            MsgType.HELLO: self._hello,
            MsgType.SELF_TEST: self._self_test,
            MsgType.CALIBRATE: self._calibrate,
            MsgType.HEALTH: self._health,
            MsgType.ENZYME_START: self._enzyme_start,
            MsgType.STRIP_READ: self._strip_read,
            MsgType.ABORT: self._abort,
            MsgType.FW_BEGIN: self._fw_begin,
            MsgType.FW_COMMIT: self._fw_commit,
        }

    # -- handlers -----------------------------------------------------------
    def _hello(self, body: bytes) -> tuple[Status, bytes]:
        host_version = int(Reader(body).one("B"))
        newest = self.cfg.protocol_version
        if not MIN_PROTOCOL_VERSION <= host_version <= newest:
            if newest == MIN_PROTOCOL_VERSION:
                return Status.VERSION_MISMATCH, f"device speaks {newest}".encode()
            speaks = f"device speaks {MIN_PROTOCOL_VERSION}..{newest}"
            return Status.VERSION_MISMATCH, speaks.encode()
        # From the session's first HELLO reply on, the link runs the version asked for
        # (SACK and coded frames for 2); the host switches when the reply arrives, and
        # both ends take either meanwhile. A later HELLO (an info request) changes nothing.
        if not self.negotiated:
            self.negotiated = True
            self.arq.set_version(host_version)
        self.flash.bootloader.confirm()
        optics = self.flash.optics
        cal = CalFlag(0)
        if optics.blank_counts is not None:
            cal |= CalFlag.BLANK
        if optics.reference_gain is not None:
            cal |= CalFlag.REFERENCE
        age = None
        if optics.calibrated_at is not None:
            age = int(time.time() - optics.calibrated_at)
        caps = (
            Capability.ENZYME_412NM
            | Capability.STRIP
            | Capability.FW_UPDATE
            | Capability.TEMP_CONTROL
        )
        reply = HelloReply(
            host_version,
            self.flash.bootloader.running.version,
            self.cfg.serial_number,
            physics.CHANNELS,
            caps,
            cal,
            age,
            self.boot_id,
            self.flash.bootloader.active,
            self.boot_reason,
        )
        return Status.OK, reply.pack()

    def _self_test(self, body: bytes) -> tuple[Status, bytes]:
        optics = self.flash.optics
        lamp = optics.lamp_factor()
        temp = self._temperature()
        failures = 0
        if lamp < 0.6:
            failures |= 0x01
        if lamp < 0.2:
            failures |= 0x02
        if not 15.0 <= temp <= 35.0:
            failures |= 0x08
        if optics.blank_counts is None:
            failures |= 0x10
        dark = round(physics.DARK_COUNTS + self._rng.gauss(0, 2))
        return Status.OK, SelfTestReply(
            failures, round(lamp * 1000), dark, round(temp * 100)
        ).pack()

    def _calibrate_blank(self, channels: list[int], rng: random.Random) -> dict[int, int]:
        optics = self.flash.optics
        counts = {ch: optics.counts(ch, 0.0, 25.0, rng) for ch in channels}
        if optics.blank_counts is None:
            optics.blank_counts = {}
            for ch in range(physics.CHANNELS):
                optics.blank_counts[ch] = optics.counts(ch, 0.0, 25.0, rng)
        optics.blank_counts.update(counts)
        optics.calibrated_at = time.time()
        return {ch: round(c) for ch, c in counts.items()}

    def _load_flash(self) -> None:
        path = self.cfg.flash_path
        if path is None or not path.exists():
            return
        try:
            saved = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as error:
            log.warning("flash file %s unreadable (%s): factory state", path, error)
            return
        optics = self.flash.optics

        def channels(value: object) -> dict[int, float] | None:
            return {int(k): float(v) for k, v in value.items()} if isinstance(value, dict) else None

        optics.blank_counts = channels(saved.get("blank_counts"))
        optics.reference_gain = channels(saved.get("reference_gain"))
        optics.calibrated_at = saved.get("calibrated_at")

    def _save_flash(self) -> None:
        path = self.cfg.flash_path
        if path is None:
            return
        optics = self.flash.optics
        data = {
            "blank_counts": optics.blank_counts,
            "reference_gain": optics.reference_gain,
            "calibrated_at": optics.calibrated_at,
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        os.replace(tmp, path)

    def _calibrate(self, body: bytes) -> tuple[Status, bytes]:
        status, reply = self._calibrate_now(body)
        if status == Status.OK:
            self._save_flash()
        return status, reply

    def _calibrate_now(self, body: bytes) -> tuple[Status, bytes]:
        r = Reader(body)
        kind, mask = r.take("BH")
        r.end()
        channels = mask_channels(mask)
        if not channels or max(channels) >= physics.CHANNELS:
            return Status.BAD_CHANNEL, b""
        optics = self.flash.optics
        if kind == 0:
            return Status.OK, pack_channel_values(0, self._calibrate_blank(channels, self._rng))
        if kind != 1:
            return Status.BAD_REQUEST, b"calibration kind must be 0 or 1"
        if optics.blank_counts is None:
            return Status.NOT_CALIBRATED, b"blank first"
        temp = self._temperature()
        gains = dict(optics.reference_gain or {})
        measured = {}
        for ch in channels:
            optics.reference_gain = {**gains, ch: 1.0}
            a = optics.absorbance(
                ch, optics.counts(ch, physics.REFERENCE_ABSORBANCE, temp, self._rng)
            )
            gains[ch] = physics.REFERENCE_ABSORBANCE / a if a > 0.05 else 1.0
            measured[ch] = round(a * 1e6)
        optics.reference_gain = gains
        return Status.OK, pack_channel_values(1, measured)

    def _health(self, body: bytes) -> tuple[Status, bytes]:
        optics = self.flash.optics
        temp = self._temperature()
        reply = HealthReply(
            round(optics.lamp_factor() * 1000),
            round(optics.lamp_hours * 100),
            round(temp * 100),
            int(abs(temp - 25.0) <= 2.0),
        )
        return Status.OK, reply.pack()

    def _busy(self) -> tuple[Status, bytes] | None:
        if self.run is not None:
            return Status.BUSY, f"run {self.run.run_id} in progress".encode()
        if self.flash.bootloader.updating:
            return Status.BUSY, b"firmware update in progress"
        return None

    def _new_run(self, kind: str, points: int, interval_wall: float) -> _Run:
        self.flash.run_counter += 1
        run_id = self.flash.run_counter & 0x7FFF
        rng = random.Random(self.cfg.seed * 1_000_003 + self.flash.run_counter)
        return _Run(run_id, kind, time.monotonic(), points, interval_wall, rng=rng)

    def _enzyme_start(self, body: bytes) -> tuple[Status, bytes]:
        r = Reader(body)
        mask, duration_ds, interval_ds = r.take("HHH")
        r.end()
        channels = mask_channels(mask)
        if not channels or max(channels) >= physics.CHANNELS:
            return Status.BAD_CHANNEL, b""
        if interval_ds == 0 or duration_ds < interval_ds:
            return Status.BAD_REQUEST, b"interval must be >0 and not above duration"
        if busy := self._busy():
            return busy
        if self.flash.optics.blank_counts is None:
            return Status.NOT_CALIBRATED, b"blank calibration missing"
        points = duration_ds // interval_ds + 1
        run = self._new_run("enzyme", points, interval_ds / 10 / self.cfg.time_scale)
        run.channels = channels
        run.interval_s = interval_ds / 10
        batch_rate = run.rng.uniform(0.13, 0.24)  # control ΔA over 3 min of about 0.4-0.7
        run.kinetics = {
            ch: physics.EnzymeKinetics.draw(run.rng, self.enzyme_samples[ch], batch_rate)
            for ch in channels
        }
        run.data = {str(ch): [] for ch in channels}
        self.run = run
        log.info("enzyme run %d on %s, %d points", run.run_id, channels, points)
        return Status.OK, struct.pack("<HH", run.run_id, points)

    def _strip_read(self, body: bytes) -> tuple[Status, bytes]:
        Reader(body).end()
        if busy := self._busy():
            return busy
        run = self._new_run("strip", physics.STRIP_POINTS, STRIP_SCAN_S / self.cfg.time_scale)
        run.data = {"profile": physics.strip_profile(run.rng, self.strip_sample)}
        self.run = run
        return Status.OK, struct.pack(
            "<HHH", run.run_id, physics.STRIP_POINTS, physics.STRIP_STEP_UM
        )

    def _abort(self, body: bytes) -> tuple[Status, bytes]:
        r = Reader(body)
        (run_id,) = r.take("H")
        r.end()
        if self.run is None or self.run.run_id != run_id:
            return Status.BAD_REQUEST, b"no such run"
        self._finish(Status.ABORTED)
        return Status.OK, b""

    def _fw_begin(self, body: bytes) -> tuple[Status, bytes]:
        manifest = FwBegin.unpack(body)
        if self.run is not None:
            return Status.BUSY, b"run in progress"
        self._fw_size = manifest.size
        status = self.flash.bootloader.begin(manifest)
        if status != Status.OK:
            return status, b""
        return status, struct.pack("<B", 1 - self.flash.bootloader.active)

    def _fw_commit(self, body: bytes) -> tuple[Status, bytes]:
        Reader(body).end()
        status = self.flash.bootloader.commit()
        if status == Status.OK:
            # Reboot once the reply has had time to reach the host.
            self._timers.append((time.monotonic() + 0.3, "reboot-update", 0.0))
        return status, b""

    def _check_cut_update(self) -> None:
        cut = self.cfg.cut_update_at
        if cut is not None and self.flash.bootloader.received >= cut * self._fw_size:
            self.cfg.cut_update_at = None
            log.warning("power cut during update at %d bytes", self.flash.bootloader.received)
            self.reboot(BootReason.POWER_ON)

    # -- bench controls (readerlink.simulator.control; never over the link) --------
    def control(self, op: str, args: dict[str, float], timeout: float = 2.0) -> None:
        """Apply a bench control on the MCU thread, as the jig's hardware would act
        between two iterations of the main loop; ControlError when refused."""
        done: queue.Queue[BaseException | None] = queue.Queue(1)
        self._controls.put((op, args, done))
        try:
            error = done.get(timeout=timeout)
        except queue.Empty:
            raise ControlError(f"{op}: the simulated MCU did not take it") from None
        if error is not None:
            raise error

    def _take_controls(self, now: float) -> None:
        while True:
            try:
                op, args, done = self._controls.get_nowait()
            except queue.Empty:
                return
            try:
                self._apply_control(op, args, now)
            except ControlError as exc:
                done.put(exc)
            except Exception as exc:  # a simulator bug: tell the jig, keep the MCU running
                log.exception("control %s failed", op)
                done.put(ControlError(f"simulator fault in {op}: {exc}"))
            else:
                done.put(None)

    def _apply_control(self, op: str, a: dict[str, float], now: float) -> None:
        if op == "set_bit_error_rate":
            if not 0 <= a["rate"] < 0.5:
                raise ControlError("bit error rate must be in [0, 0.5)")
            self.port.noise.bit_error_rate = a["rate"]
        elif op == "set_drop_rate":
            if not 0 <= a["rate"] < 1:
                raise ControlError("drop rate must be in [0, 1)")
            self.port.noise.drop_rate = a["rate"]
        elif op == "stall":
            self._timers.append((now + 0.05, "stall", a["seconds"]))
        elif op == "reset_after":
            self._timers.append((now + a["seconds"], "reset", 0.0))
        elif op == "reset_mid_run":
            self.cfg.reset_mid_run = a["fraction"]
        elif op == "unplug":
            self._timers.append((now + 0.15, "unplug", a["seconds"]))
        elif op == "cut_update_at":
            self.cfg.cut_update_at = a["fraction"]
        elif op == "load_enzyme_sample":
            ch = int(a["channel"])
            if not 0 <= ch < physics.CHANNELS:
                raise ControlError(f"channel {ch} outside 0..{physics.CHANNELS - 1}")
            self.enzyme_samples[ch] = physics.EnzymeSample(
                inhibitor=a["inhibitor"], pigment=a["pigment"]
            )
        elif op == "load_strip":
            self.strip_sample = physics.StripSample(ratio=a["ratio"], c_line=a["c_line"])
        elif op == "set_ambient":
            self.cfg.ambient_c = a["celsius"]
        else:
            raise ControlError(f"unknown op {op!r}")

    def _run_timers(self, now: float) -> None:
        due = [t for t in self._timers if t[0] <= now]
        if not due:
            return
        self._timers = [t for t in self._timers if t[0] > now]
        for _, what, arg in due:
            if what == "stall":
                self._stalled_until = now + arg
            elif what == "reset" or what == "reboot-update":
                self.reboot(BootReason.RESET)
                return
            elif what == "unplug":
                self.port.unplug(arg, lambda: self._inbox.put(b""))
                self.reboot(BootReason.POWER_ON)  # USB power went with the cable
                return

    # -- runs ---------------------------------------------------------------
    def _emit(self, msg_type: MsgType, payload: bytes) -> None:
        run = self.run
        assert run is not None
        run.digest = crc32c(payload, run.digest)
        run.count += 1
        self.arq.enqueue(msg_type, payload)

    def _advance_run(self, now: float) -> None:
        run = self.run
        assert run is not None
        if run.kind == "strip":
            if now - run.start >= run.interval_wall:
                profile = run.data["profile"]
                for off in range(0, len(profile), STRIP_CHUNK_POINTS):
                    chunk = StripChunk(
                        run.run_id, off, tuple(profile[off : off + STRIP_CHUNK_POINTS])
                    )
                    self._emit(MsgType.STRIP_CHUNK, chunk.pack())
                self._finish(Status.OK)
            return
        while self.run is run and now >= run.start + run.index * run.interval_wall:
            mid = self.cfg.reset_mid_run
            if mid is not None and run.index >= mid * run.points:
                self.cfg.reset_mid_run = None
                log.warning("reset in the middle of run %d", run.run_id)
                self.reboot(BootReason.WATCHDOG)
                return
            self._enzyme_point(run)
            if run.index >= run.points:
                self._finish(Status.OK)

    def _enzyme_point(self, run: _Run) -> None:
        optics = self.flash.optics
        t_s = run.index * run.interval_s
        temp = physics.block_temperature(run.rng, 600.0 + t_s, self.cfg.ambient_c)
        run.temps.append(temp)
        mean_temp = sum(run.temps) / len(run.temps)
        values = []
        for ch in run.channels:
            true_a = run.kinetics[ch].absorbance(t_s, mean_temp)
            a = optics.absorbance(ch, optics.counts(ch, true_a, temp, run.rng))
            uau = round(a * 1e6)
            values.append((ch, uau))
            run.data[str(ch)].append(uau)
        # The LED ages with use: one interval of light per point.
        optics.lamp_hours += run.interval_s / 3600.0
        sample = EnzymeSample(
            run.run_id, run.index, round(t_s * 1000), round(temp * 100), tuple(values)
        )
        run.index += 1
        self._emit(MsgType.ENZYME_SAMPLE, sample.pack())

    def _finish(self, status: Status) -> None:
        run = self.run
        assert run is not None
        done = RunDone(run.run_id, int(status), run.count, run.digest)
        self.arq.enqueue(MsgType.RUN_DONE, done.pack())
        if status != Status.OK:
            err = ErrorEvent(int(status), run.run_id, f"run {run.run_id} ended: {status.name}")
            self.arq.enqueue(MsgType.ERROR_EVENT, err.pack())
        elif self.cfg.truth_log is not None:
            record = {
                "boot_id": self.boot_id,
                "run_id": run.run_id,
                "kind": run.kind,
                "count": run.count,
                "digest": run.digest,
                "data": run.data,
            }
            with self.cfg.truth_log.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
        self.run = None


__all__ = ["NO_RUN", "SimConfig", "SimulatedMcu"]
