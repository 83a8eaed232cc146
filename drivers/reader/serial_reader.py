"""``TestReader`` backed by the reader link (readerlink): serial port or simulator."""

from __future__ import annotations

import logging
import queue
import struct
import time
from collections.abc import Callable, Sequence

from drivers.reader.base import (
    AbsorbanceCurve,
    CalibrationResult,
    EnzymeRun,
    FirmwareUpdateError,
    FlashProgress,
    ReaderHealth,
    ReaderInfo,
    SelfTestReport,
    StripProfile,
    TestReader,
)
from readerlink.crc import crc32c
from readerlink.errors import (
    DeviceError,
    IntegrityError,
    LinkError,
    LinkTimeoutError,
)
from readerlink.firmware_image import SignedFirmware
from readerlink.host import LinkEvent, ReaderLink
from readerlink.messages import (
    PROTOCOL_VERSION,
    SELF_TEST_FAILURES,
    CalFlag,
    Capability,
    FwBegin,
    HealthReply,
    HelloReply,
    MsgType,
    SelfTestReply,
    Status,
    channel_mask,
    unpack_channel_values,
)

log = logging.getLogger(__name__)

# Firmware bytes per FW_CHUNK frame at most: 240 + 4 offset bytes fill a frame to 254
# of the 255-byte payload limit, so 95 % of the line carries image bytes on a clean line.
FW_CHUNK_BYTES = 240
# The least the adaptive size goes down to (a version-1 reader on a very noisy line).
FW_CHUNK_BYTES_MIN = 12
_LINK_LOSS = ("reset", "resync", "disconnected")


def adaptive_chunk_bytes(link: ReaderLink) -> int:
    """Image bytes for the next FW_CHUNK, from the link's plan for the line right now."""
    payload = link.frame_plan(FW_CHUNK_BYTES + 4).payload
    return max(FW_CHUNK_BYTES_MIN, min(FW_CHUNK_BYTES, payload - 4))


def _info(hello: HelloReply) -> ReaderInfo:
    caps = frozenset(c.name.lower() for c in Capability if c in hello.capabilities and c.name)
    return ReaderInfo(
        protocol_version=hello.protocol_version,
        firmware_version=hello.firmware_version,
        serial_number=hello.serial_number,
        channels=hello.channels,
        capabilities=caps,
        blank_calibrated=CalFlag.BLANK in hello.calibration,
        reference_calibrated=CalFlag.REFERENCE in hello.calibration,
        calibration_age_s=hello.calibration_age_s,
        boot_id=hello.boot_id,
        active_slot=hello.active_slot,
        boot_reason=hello.boot_reason.name.lower(),
    )


class BridgeTestReader(TestReader):
    """The real reader on an open `ReaderLink`; closing the reader closes the link.

    It knows nothing of simulation: a simulated part is reached through the same link
    and the same class (drivers.reader.sim adds the simulator process and its bench
    controls in a subclass).
    """

    def __init__(self, link: ReaderLink) -> None:
        self.link = link
        self._closed = False
        hello = link.hello or link.wait_ready(link.request_timeout)
        self.channels = hello.channels

    # -- simple requests ----------------------------------------------------
    def info(self) -> ReaderInfo:
        version = self.link.protocol_version or PROTOCOL_VERSION
        body = self.link.request(MsgType.HELLO, bytes((version,)))
        return _info(HelloReply.unpack(body))

    def self_test(self) -> SelfTestReport:
        r = SelfTestReply.unpack(self.link.request(MsgType.SELF_TEST))
        failures = tuple(text for bit, text in SELF_TEST_FAILURES.items() if r.failures & bit)
        return SelfTestReport(
            passed=not failures,
            failures=failures,
            lamp_relative=r.lamp_permille / 1000,
            dark_counts=r.dark_counts,
            temperature_c=r.temp_centi / 100,
        )

    def _mask(self, channels: Sequence[int] | None) -> int:
        chans = list(range(self.channels)) if channels is None else list(channels)
        if not chans or len(set(chans)) != len(chans):
            raise ValueError("channels must be a non-empty list without repeats")
        for ch in chans:
            if not isinstance(ch, int) or not 0 <= ch < self.channels:
                raise ValueError(f"channel {ch!r} outside 0..{self.channels - 1}")
        return channel_mask(chans, self.channels)

    def _calibrate(self, kind: int, channels: Sequence[int] | None) -> CalibrationResult:
        body = self.link.request(
            MsgType.CALIBRATE, struct.pack("<BH", kind, self._mask(channels)), timeout=10
        )
        got_kind, values = unpack_channel_values(body)
        if got_kind == 0:
            return CalibrationResult("blank", {ch: float(v) for ch, v in values.items()})
        return CalibrationResult("reference", {ch: v / 1e6 for ch, v in values.items()})

    def calibrate_blank(self, channels: Sequence[int] | None = None) -> CalibrationResult:
        return self._calibrate(0, channels)

    def calibrate_reference(self, channels: Sequence[int] | None = None) -> CalibrationResult:
        return self._calibrate(1, channels)

    def health(self) -> ReaderHealth:
        r = HealthReply.unpack(self.link.request(MsgType.HEALTH))
        return ReaderHealth(
            lamp_relative=r.lamp_permille / 1000,
            lamp_hours=r.lamp_hours_centi / 100,
            temperature_c=r.temp_centi / 100,
            temperature_ok=bool(r.temp_ok),
        )

    # -- runs ---------------------------------------------------------------
    def _collect(
        self,
        start: MsgType,
        body: bytes,
        timeout: float,
        on_event: Callable[[LinkEvent, int], None],
    ) -> tuple[int, bytes]:
        """Start a run and feed its events to `on_event` until RUN_DONE checks out."""
        events: queue.Queue[LinkEvent] = queue.Queue()
        unsubscribe = self.link.subscribe(events.put)
        try:
            session = self.link.session
            reply = self.link.request(start, body)
            (run_id,) = struct.unpack_from("<H", reply)
            deadline = time.monotonic() + timeout
            digest = count = 0
            while True:
                try:
                    ev = events.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    self._abort(run_id)
                    raise LinkTimeoutError(
                        f"run {run_id} did not finish in {timeout:.0f} s"
                    ) from None
                if ev.kind in _LINK_LOSS and ev.session > session:
                    assert isinstance(ev.message, LinkError)
                    raise type(ev.message)(f"run {run_id} lost: {ev.message}")
                msg = ev.message
                if getattr(msg, "run_id", None) != run_id:
                    continue
                if ev.kind == "run_done":
                    if msg.status != Status.OK:
                        raise DeviceError(
                            msg.status, f"run {run_id} ended: {Status(msg.status).name}"
                        )
                    if msg.count != count or msg.digest != digest:
                        raise IntegrityError(
                            f"run {run_id}: got {count} events digest {digest:08x}, device "
                            f"sent {msg.count} digest {msg.digest:08x}"
                        )
                    return run_id, reply
                if ev.kind in ("sample", "strip_chunk"):
                    digest = crc32c(ev.payload, digest)
                    count += 1
                    on_event(ev, count - 1)
        finally:
            unsubscribe()

    def _abort(self, run_id: int) -> None:
        try:
            self.link.request(MsgType.ABORT, struct.pack("<H", run_id), timeout=2)
        except LinkError as exc:
            log.warning("abort of run %d failed: %s", run_id, exc)

    def run_enzyme(
        self,
        channels: Sequence[int],
        duration_s: float = 180.0,
        interval_s: float = 10.0,
        timeout: float | None = None,
    ) -> EnzymeRun:
        mask = self._mask(channels)
        duration_ds, interval_ds = round(duration_s * 10), round(interval_s * 10)
        if not 0 < interval_ds <= duration_ds <= 0xFFFF:
            raise ValueError("need 0 < interval_s <= duration_s <= 6553.5")
        order = sorted(channels)
        times: list[float] = []
        temps: list[float] = []
        values: dict[int, list[float]] = {ch: [] for ch in order}

        def on_sample(ev: LinkEvent, index: int) -> None:
            s = ev.message
            got = [ch for ch, _ in s.absorbance_uau]
            if s.index != index or got != order:
                raise IntegrityError(f"sample {s.index} out of order or wrong channels {got}")
            times.append(s.t_ms / 1000)
            temps.append(s.temp_centi / 100)
            for ch, uau in s.absorbance_uau:
                values[ch].append(uau / 1e6)

        run_id, reply = self._collect(
            MsgType.ENZYME_START,
            struct.pack("<HHH", mask, duration_ds, interval_ds),
            duration_s * 1.5 + 30 if timeout is None else timeout,
            on_sample,
        )
        (_, points) = struct.unpack_from("<HH", reply)
        if len(times) != points:
            raise IntegrityError(f"run {run_id}: {len(times)} points of {points}")
        curves = {ch: AbsorbanceCurve(ch, tuple(times), tuple(values[ch])) for ch in order}
        return EnzymeRun(run_id, curves, tuple(temps))

    def read_strip(self, timeout: float | None = None) -> StripProfile:
        chunks: dict[int, tuple[int, ...]] = {}

        def on_chunk(ev: LinkEvent, index: int) -> None:
            chunks[ev.message.offset] = ev.message.values

        run_id, reply = self._collect(
            MsgType.STRIP_READ, b"", 60.0 if timeout is None else timeout, on_chunk
        )
        _, points, step_um = struct.unpack_from("<HHH", reply)
        profile: list[int] = []
        for offset in sorted(chunks):
            if offset != len(profile):
                raise IntegrityError(f"strip profile gap at point {len(profile)}")
            profile.extend(chunks[offset])
        if len(profile) != points:
            raise IntegrityError(f"strip profile has {len(profile)} of {points} points")
        return StripProfile(run_id, step_um / 1000, tuple(profile))

    # -- firmware -----------------------------------------------------------
    def flash_firmware(
        self,
        firmware: SignedFirmware,
        progress: FlashProgress | None = None,
        *,
        chunk_bytes: int | None = None,
    ) -> ReaderInfo:
        """See TestReader; a fixed `chunk_bytes` overrides the adaptive size.

        By default every chunk is sized by the link's plan for the error rate measured
        at that moment (`ReaderLink.frame_plan`), so a line that gets noisier halfway
        through gets smaller chunks, or more parity, from then on.
        """
        if chunk_bytes is not None and not 1 <= chunk_bytes <= FW_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in 1..{FW_CHUNK_BYTES}")
        link = self.link
        old_boot = link.boot_id
        session = link.session
        manifest = FwBegin(firmware.size, firmware.sha256, firmware.signature, firmware.version)
        try:
            link.request(MsgType.FW_BEGIN, manifest.pack(), timeout=10)
            image = firmware.image
            offset = 0
            while offset < len(image):
                size = chunk_bytes or self._chunk_for_line()
                data = image[offset : offset + size]
                link.send(MsgType.FW_CHUNK, struct.pack("<I", offset) + data, session, timeout=30)
                offset += len(data)
                if progress is not None:
                    progress(offset, len(image))
            link.wait_acked(session, timeout=30)
            link.request(MsgType.FW_COMMIT, timeout=15)
        except DeviceError as exc:
            raise FirmwareUpdateError(f"reader refused image {firmware.version}: {exc}") from exc
        except LinkError as exc:
            raise FirmwareUpdateError(f"update to {firmware.version} interrupted: {exc}") from exc
        # The reader reboots into the new image on trial; our handshake confirms it.
        deadline = time.monotonic() + 15
        while link.boot_id == old_boot or link.session == session:
            if time.monotonic() > deadline:
                raise FirmwareUpdateError("reader did not reboot after the update")
            time.sleep(0.05)
        hello = link.wait_ready(max(0.1, deadline - time.monotonic()))
        if hello.firmware_version != firmware.version:
            raise FirmwareUpdateError(
                f"reader rolled back to {hello.firmware_version} ({hello.boot_reason.name.lower()})"
            )
        return _info(hello)

    def _chunk_for_line(self) -> int:
        return adaptive_chunk_bytes(self.link)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.link.close()
